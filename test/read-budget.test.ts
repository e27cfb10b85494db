import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { CacacheBlobStore } from '../cache/cacache-blob-store.js';
import { SMALL_READ_BYTES } from '../cache/paced-read-size.js';
import { ReadBudget } from '../cache/read-budget.js';
import { parseDigest } from '../oci/digest.js';
import { makeTempDir } from './support/temp-dir.js';

const MiB = 1024 * 1024;

test('the read budget gives a few readers the full large read and many readers a power-of-two share', () => {
  const budget = new ReadBudget(32 * MiB);
  assert.equal(budget.largeReadBytes(MiB), MiB, 'no reader open: the full size');
  const leaves = Array.from({ length: 200 }, () => budget.enter());
  // 32 MiB / 200 = 164 KiB, rounded down to 128 KiB: 200 readers hold 25 MiB, not 200.
  assert.equal(budget.largeReadBytes(MiB), 128 * 1024);
  for (const leave of leaves.slice(0, 190)) leave();
  leaves[0]?.();
  assert.equal(budget.largeReadBytes(MiB), MiB, 'ten left: back to the full size (leaving twice counts once)');
  const crowd = Array.from({ length: 100_000 }, () => budget.enter());
  assert.equal(budget.largeReadBytes(MiB), SMALL_READ_BYTES, 'never below the small reads');
  for (const leave of crowd) leave();
});

test('a store read holds its share while open and gives it back when destroyed', async (t) => {
  const dir = await makeTempDir('read-budget');
  t.after(() => dir.remove());
  const budget = new ReadBudget(2 * MiB);
  const store = new CacacheBlobStore(dir.path, budget);
  const bytes = randomBytes(64 * 1024);
  const digest = parseDigest(`sha256:${createHash('sha256').update(bytes).digest('hex')}`);
  const writer = await store.createWriter(digest);
  await writer.write(bytes);
  await writer.commit();
  await writer.abort();
  const first = await store.createReadStream(digest);
  const second = await store.createReadStream(digest);
  assert.equal(budget.largeReadBytes(4 * MiB), MiB, 'two open reads share 2 MiB');
  await new Promise<void>((resolve) => first.once('close', () => resolve()).destroy());
  assert.equal(budget.largeReadBytes(4 * MiB), 2 * MiB);
  let read = 0;
  for await (const chunk of second) read += (chunk as Buffer).length;
  assert.equal(read, bytes.length);
  assert.equal(budget.largeReadBytes(4 * MiB), 2 * MiB, 'a read that ended is out of the shares');
});
