// The budget: LRU eviction down to the low-water mark, never a pinned blob, never one being
// read or written, and a cache that stays inside its budget under a stream of real pulls.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { describe, test } from 'node:test';
import { pino } from 'pino';
import { BudgetedBlobStore, type RemovalReason } from '../cache/budgeted-blob-store.js';
import { contentFiles } from '../cache/cache-gc.js';
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
