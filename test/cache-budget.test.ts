// The budget: LRU eviction down to the low-water mark, never a pinned blob, never one being
// read or written, and a cache that stays inside its budget under a stream of real pulls.
// A pass removes several blobs at once (the soak's cache outgrew its budget almost fourfold when
// removals went one by one), never more than EVICTION_CONCURRENCY, and stops launching removals
// once the ones in flight bring the cache to its low-water mark. A `stat` that races a removal
// answers a miss, never a hit whose open then finds the file gone (the CI soak's 500).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { describe, test } from 'node:test';
import { pino } from 'pino';
import type { StoredBlob } from '../cache/blob-store.js';
import { BudgetedBlobStore, type RemovalReason } from '../cache/budgeted-blob-store.js';
import { contentFiles } from '../cache/cache-gc.js';
import { EVICTION_CONCURRENCY, runEvictionPass, type EvictionCandidate, type EvictionHost } from '../cache/lru-eviction-pass.js';
import { MemoryBlobStore } from '../cache/memory-blob-store.js';
import { digestOf, parseDigest, type Digest } from '../oci/digest.js';
import { startBudgetedMirror } from './support/budgeted-mirror.js';
import { commitBlob } from './support/commit-blob.js';
import { startLoopbackRegistry } from './support/loopback-registry.js';
import { readBody } from './support/read-body.js';
import { waitUntil } from './support/wait-until.js';

const silent = pino({ level: 'silent' });

function fakeClock(): { now: () => number; advance: (ms: number) => void } {
  let time = 1_000_000;
  return { now: () => time, advance: (ms) => (time += ms) };
}

async function readAll(store: BudgetedBlobStore, digest: Digest): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of await store.createReadStream(digest)) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

interface MemoryFixture {
  readonly store: BudgetedBlobStore;
  readonly inner: MemoryBlobStore;
  readonly clock: { now: () => number; advance: (ms: number) => void };
  readonly removed: Array<{ digest: string; reason: RemovalReason }>;
}

function memoryStore(options: { maxBytes: number; lowWaterBytes: number; pinned?: Set<string> }): MemoryFixture {
  const clock = fakeClock();
  const removed: Array<{ digest: string; reason: RemovalReason }> = [];
  const inner = new MemoryBlobStore();
  const store = new BudgetedBlobStore({
    inner,
    logger: silent,
    budget: { maxBytes: options.maxBytes, lowWaterBytes: options.lowWaterBytes },
    pins: { pinnedDigests: () => Promise.resolve(options.pinned ?? new Set<string>()) },
    onRemoved: (digest, reason) => removed.push({ digest, reason }),
    now: clock.now,
  });
  return { store, inner, clock, removed };
}

describe('BudgetedBlobStore eviction', () => {
  test('least recently used goes first, down to the low-water mark', async () => {
    const { store, inner, clock, removed } = memoryStore({ maxBytes: 3_500, lowWaterBytes: 2_500 });
    const a = await commitBlob(store, randomBytes(1000));
    clock.advance(10_000);
    const b = await commitBlob(store, randomBytes(1000));
    clock.advance(10_000);
    const c = await commitBlob(store, randomBytes(1000));
    clock.advance(10_000);
    await readAll(store, a); // a is now the most recently used
    clock.advance(10_000);
    const d = await commitBlob(store, randomBytes(1000));
    await store.idle();
    // 4000 > 3500: evict b (oldest use), then 3000 > 2500: evict c.
    assert.deepEqual(removed.map((r) => [r.digest, r.reason]), [[b.value, 'evicted'], [c.value, 'evicted']]);
    assert.equal(store.usedBytes, 2000);
    assert.ok(await inner.stat(a));
    assert.ok(await inner.stat(d));
    assert.equal(await inner.stat(b), undefined);
  });

  test('a pinned blob survives even when it is the least recently used', async () => {
    const pinned = new Set<string>();
    const { store, clock, removed } = memoryStore({ maxBytes: 2_500, lowWaterBytes: 2_000, pinned });
    const old = await commitBlob(store, randomBytes(1000));
    pinned.add(old.value);
    clock.advance(10_000);
    const newer = await commitBlob(store, randomBytes(1000));
    clock.advance(10_000);
    await commitBlob(store, randomBytes(1000));
    await store.idle();
    assert.deepEqual(removed.map((r) => r.digest), [newer.value]);
    assert.ok(await store.stat(old));
  });

  test('a blob being read or written is never evicted; it goes once released', async () => {
    const { store, clock, removed } = memoryStore({ maxBytes: 1_500, lowWaterBytes: 1_000 });
    const reading = await commitBlob(store, randomBytes(1000));
    const stream = await store.createReadStream(reading); // open, not consumed
    clock.advance(10_000);
    const pending = digestOf(randomBytes(1));
    const writer = await store.createWriter(pending); // a download in progress
    await writer.write(randomBytes(600));
    clock.advance(10_000);
    await commitBlob(store, randomBytes(1000));
    await store.idle();
    assert.equal(removed.length, 0, 'the only candidates are in use');
    assert.ok(store.usedBytes > 1_500, 'over budget while everything is in use');
    stream.destroy();
    await new Promise((resolve) => stream.once('close', resolve));
    await writer.abort();
    clock.advance(10_000);
    await store.evictNow();
    assert.deepEqual(removed.map((r) => r.digest), [reading.value]);
  });

  test('a blob looked up a moment ago (about to be opened) is not evicted under the reader', async () => {
    const { store, clock, removed } = memoryStore({ maxBytes: 1_500, lowWaterBytes: 1_000 });
    const bytes = randomBytes(1000);
    const a = await commitBlob(store, bytes);
    clock.advance(10_000);
    assert.ok(await store.stat(a));
    await commitBlob(store, randomBytes(1000));
    await store.idle();
    assert.equal(removed.length, 0);
    assert.deepEqual(await readAll(store, a), bytes, 'the reader gets the whole blob');
  });
});

describe('a budgeted mirror under a stream of pulls larger than its budget', () => {
  test('stays within budget, serves every pull intact, and reports what it evicted', async (t) => {
    const upstream = await startLoopbackRegistry(t);
    const budget = { maxBytes: 1_000_000, lowWaterBytes: 800_000 };
    const mirror = await startBudgetedMirror({ upstreamUrl: upstream.url, budget });
    t.after(() => mirror.close());
    const blobs = Array.from({ length: 30 }, () => randomBytes(100_000));
    const digests = blobs.map((bytes) => upstream.addBlob(bytes));
    for (const [index, digest] of digests.entries()) {
      const response = await fetch(`${mirror.url}/v2/app/blobs/${digest}`);
      const { bytes, complete } = await readBody(response);
      assert.ok(complete && bytes.equals(blobs[index] ?? Buffer.alloc(0)), `pull ${index} intact`);
      await waitForIdle(mirror);
      assert.ok(mirror.store.usedBytes <= budget.maxBytes, `after pull ${index}: ${mirror.store.usedBytes} bytes`);
    }
    // What is on disk agrees with the accounting.
    let onDisk = 0;
    for (const path of await contentFiles(mirror.cacheDir)) onDisk += (await stat(path)).size;
    assert.ok(onDisk <= budget.maxBytes, `${onDisk} bytes of content on disk`);
    assert.ok(mirror.removed.length >= 20, `${mirror.removed.length} evicted`);
    assert.ok(mirror.removed.every((r) => r.reason === 'evicted'));
    // The newest pull is still served from the cache; the oldest went back to upstream.
    const newest = await fetch(`${mirror.url}/v2/app/blobs/${digests.at(-1) ?? ''}`);
    assert.equal(newest.headers.get('x-edgepier-source'), 'cache');
    await newest.arrayBuffer();
    assert.equal(await mirror.store.stat(parseDigest(digests[0] ?? '')), undefined);
  });
});

async function waitForIdle(mirror: Awaited<ReturnType<typeof startBudgetedMirror>>): Promise<void> {
  await waitUntil(() => mirror.mirror.activeDownloads === 0, 'the downloads to finish');
  await mirror.store.idle();
}

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
