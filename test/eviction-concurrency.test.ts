// An eviction pass removes several blobs at once (the soak's cache outgrew its budget threefold
// when removals went one by one), never more than EVICTION_CONCURRENCY, and stops launching
// removals once the ones in flight bring the cache to its low-water mark. A `stat` that races
// a removal answers a miss, never a hit whose open then finds the file gone (the CI soak's 500).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { randomBytes } from 'node:crypto';
import { pino } from 'pino';
import type { StoredBlob } from '../cache/blob-store.js';
import { BudgetedBlobStore } from '../cache/budgeted-blob-store.js';
import { EVICTION_CONCURRENCY, runEvictionPass, type EvictionCandidate, type EvictionHost } from '../cache/lru-eviction-pass.js';
import { MemoryBlobStore } from '../cache/memory-blob-store.js';
import type { Digest } from '../oci/digest.js';
import { commitBlob } from './support/commit-blob.js';

const BLOB_BYTES = 100;

interface GatedHost extends EvictionHost {
  readonly inFlight: () => number;
  readonly mostInFlight: () => number;
  readonly evicted: string[];
  /** Lets every removal waiting now, and every later one, finish. */
  readonly release: () => void;
  /** Resolves once `count` removals are waiting at the gate. */
  readonly waitingFor: (count: number) => Promise<void>;
  readonly warnings: string[];
  /** Adds bytes as a download committing during the pass would. */
  readonly arrive: (bytes: number) => void;
}

function gatedHost(blobs: number, options: { pinnedAll?: boolean } = {}): GatedHost {
  const entries = new Map<string, EvictionCandidate>();
  for (let index = 0; index < blobs; index += 1) entries.set(`sha256:${String(index).padStart(64, '0')}`, { size: BLOB_BYTES, lastUsed: index, statAt: 0 });
  let used = blobs * BLOB_BYTES;
  let inFlight = 0;
  let mostInFlight = 0;
  let open = false;
  const gate: Array<() => void> = [];
  const waiters: Array<{ count: number; resolve: () => void }> = [];
  const evicted: string[] = [];
  const warnings: string[] = [];
  const logger = pino(
    { level: 'warn' },
    {
      write: (line: string) => {
        warnings.push((JSON.parse(line) as { msg: string }).msg);
      },
    },
  );
  return {
    usedBytes: () => used,
    entries: () => [...entries],
    current: (digest) => entries.get(digest),
    isBusy: () => false,
    evict: async (digest) => {
      inFlight += 1;
      mostInFlight = Math.max(mostInFlight, inFlight);
      if (!open) {
        await new Promise<void>((resolve) => {
          gate.push(resolve);
          for (const waiter of waiters.filter((candidate) => gate.length >= candidate.count)) waiter.resolve();
        });
      }
      inFlight -= 1;
      entries.delete(digest);
      used -= BLOB_BYTES;
      evicted.push(digest);
    },
    now: () => 1_000_000,
    logger,
    ...(options.pinnedAll ? { pins: { pinnedDigests: () => Promise.resolve(new Set(entries.keys())) } } : {}),
    inFlight: () => inFlight,
    mostInFlight: () => mostInFlight,
    evicted,
    warnings,
    release: () => {
      open = true;
      for (const resolve of gate.splice(0)) resolve();
    },
    waitingFor: (count) => (gate.length >= count ? Promise.resolve() : new Promise((resolve) => waiters.push({ count, resolve }))),
    arrive: (bytes) => {
      used += bytes;
    },
  };
}

describe('an eviction pass', () => {
  test(`removes ${EVICTION_CONCURRENCY} blobs at once, never more, oldest first`, async () => {
    const host = gatedHost(40);
    const pass = runEvictionPass(host, { maxBytes: 1_000, lowWaterBytes: 0 });
    await host.waitingFor(EVICTION_CONCURRENCY);
    // Give p-map every chance to start a ninth before the gate opens.
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(host.inFlight(), EVICTION_CONCURRENCY);
    host.release();
    const { report } = await pass;
    assert.equal(report?.evicted, 40);
    assert.equal(host.mostInFlight(), EVICTION_CONCURRENCY);
    const oldest = Array.from({ length: EVICTION_CONCURRENCY }, (_, index) => `sha256:${String(index).padStart(64, '0')}`);
    assert.deepEqual([...host.evicted.slice(0, EVICTION_CONCURRENCY)].sort(), oldest);
  });

  test('stops launching once the removals in flight reach the low-water mark', async () => {
    const host = gatedHost(20);
    // 2,000 bytes, down to 1,700: three removals, although eight could run at once.
    const pass = runEvictionPass(host, { maxBytes: 1_800, lowWaterBytes: 1_700 });
    await host.waitingFor(3);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(host.inFlight(), 3);
    host.release();
    const { report } = await pass;
    assert.equal(report?.evicted, 3);
    assert.equal(host.usedBytes(), 1_700);
  });

  test('does not call the cache stuck when blobs arrived while it evicted', async () => {
    const host = gatedHost(20);
    const pass = runEvictionPass(host, { maxBytes: 1_000, lowWaterBytes: 900 });
    await host.waitingFor(EVICTION_CONCURRENCY);
    host.arrive(5_000);
    host.release();
    const { report } = await pass;
    assert.equal(report?.evicted, 20);
    assert.ok(host.usedBytes() > 1_000);
    assert.deepEqual(host.warnings, []);
  });

  test('says so when pins keep the cache over budget', async () => {
    const host = gatedHost(20, { pinnedAll: true });
    host.release();
    const { report } = await runEvictionPass(host, { maxBytes: 1_000, lowWaterBytes: 900 });
    assert.equal(report?.evicted, 0);
    assert.deepEqual(host.warnings, ['cache over budget: the rest is pinned or in use']);
  });
});

/** A memory store whose `stat` waits until let go, and whose removals wait likewise: the two halves of the race. */
class SlowMemoryStore extends MemoryBlobStore {
  statGate: Promise<void> | undefined;
  removeGate: Promise<void> | undefined;
  statStarted: (() => void) | undefined;

  override async stat(digest: Digest): Promise<StoredBlob | undefined> {
    const found = await super.stat(digest);
    this.statStarted?.();
    await this.statGate;
    return found;
  }

  override async remove(digest: Digest): Promise<void> {
    await this.removeGate;
    await super.remove(digest);
  }
}

void test('a stat that an eviction overtakes answers a miss, so the blob is fetched again instead of failing to open', async () => {
  let time = 1_000_000;
  const inner = new SlowMemoryStore();
  const store = new BudgetedBlobStore({ inner, logger: pino({ level: 'silent' }), budget: { maxBytes: 1_500, lowWaterBytes: 500 }, now: () => time });
  const old = await commitBlob(store, randomBytes(1_000));
  time += 60_000;
  // The store's stat is under way (the file looked up) when the pass decides to evict the blob.
  let letStatGo = (): void => undefined;
  inner.statGate = new Promise((resolve) => (letStatGo = resolve));
  const statStarted = new Promise<void>((resolve) => (inner.statStarted = resolve));
  let letRemoveGo = (): void => undefined;
  inner.removeGate = new Promise((resolve) => (letRemoveGo = resolve));
  const looked = store.stat(old);
  await statStarted;
  inner.statStarted = undefined;
  inner.statGate = undefined;
  await commitBlob(store, randomBytes(1_000));
  // The commit took the cache over budget and started the pass: its removal of `old` now waits.
  letStatGo();
  const stored = await looked;
  letRemoveGo();
  await store.idle();
  if (stored) {
    // A hit is only right if the blob can still be read.
    await assert.doesNotReject(async () => {
      for await (const chunk of await store.createReadStream(old)) void chunk;
    });
  }
  assert.equal(stored, undefined, 'the removal had begun: stat must answer a miss');
  await store.close();
});
