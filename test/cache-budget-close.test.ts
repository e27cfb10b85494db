// BudgetedBlobStore.close() waits for the background reconciliation that the first listing
// starts, so the journal is closed after the last record it writes, never under it.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { pino } from 'pino';
import { BudgetedBlobStore } from '../cache/budgeted-blob-store.js';
import type { StoredBlob } from '../cache/blob-store.js';
import { MemoryBlobStore } from '../cache/memory-blob-store.js';
import { UsageJournal } from '../cache/usage-journal.js';
import { digestOf } from '../oci/digest.js';
import { gate } from './support/gate.js';
import { makeTempDir } from './support/temp-dir.js';

/** Its listing waits for the gate, so the reconciliation is still running when close() is called. */
class SlowListingStore extends MemoryBlobStore {
  readonly listing = gate();

  override async *list(): AsyncIterable<StoredBlob> {
    await this.listing.opened;
    yield* super.list();
  }
}

test('close() resolves after the background reconciliation, and closes the journal after it', async (t) => {
  const dir = await makeTempDir('budget-close');
  t.after(() => dir.remove());
  const inner = new SlowListingStore();
  // A blob the journal does not know: the reconciliation finds and announces it.
  const bytes = randomBytes(100);
  const digest = digestOf(bytes);
  const writer = await inner.createWriter(digest);
  await writer.write(bytes);
  await writer.commit();

  const added: string[] = [];
  let addedWhenJournalClosed: number | undefined;
  class WatchedJournal extends UsageJournal {
    override close(): Promise<void> {
      addedWhenJournalClosed = added.length;
      return super.close();
    }
  }
  const store = new BudgetedBlobStore({ inner, logger: pino({ level: 'silent' }), journal: new WatchedJournal(dir.path), onAdded: (found) => added.push(found) });
  for await (const blob of store.list()) assert.fail(`the journal is empty, yet ${blob.digest} was listed`);

  const closing = store.close();
  // A macrotask: a close() that does not wait has closed the journal by then (only microtasks in between).
  setImmediate(() => inner.listing.open());
  await closing;
  assert.deepEqual(added, [digest.value]);
  assert.equal(addedWhenJournalClosed, 1, 'the journal closed before the reconciliation finished');
});
