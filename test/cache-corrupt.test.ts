// Corrupt content on disk is found while serving and healed by fetching it again; it is never
// served complete. Also measures what the first-serve hash check costs.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { open, truncate } from 'node:fs/promises';
import { describe, test, type TestContext } from 'node:test';
import contentPath from 'cacache/lib/content/path.js';
import { parseDigest, toIntegrity } from '../oci/digest.js';
import { startBudgetedMirror, type BudgetedMirror } from './support/budgeted-mirror.js';
import { startLoopbackRegistry, type LoopbackRegistry } from './support/loopback-registry.js';
import { readBody } from './support/read-body.js';
import { makeTempDir } from './support/temp-dir.js';
import { waitUntil } from './support/wait-until.js';

async function flipByte(cacheDir: string, digest: string, position: number): Promise<void> {
  const file = await open(contentPath(cacheDir, toIntegrity(parseDigest(digest))), 'r+');
  try {
    const byte = Buffer.alloc(1);
    await file.read(byte, 0, 1, position);
    byte[0] = (byte[0] ?? 0) ^ 0xff;
    await file.write(byte, 0, 1, position);
  } finally {
    await file.close();
  }
}

async function get(mirror: BudgetedMirror, digest: string): Promise<{ status: number; source: string | null; bytes: Buffer; complete: boolean; length: number }> {
  const response = await fetch(`${mirror.url}/v2/app/blobs/${digest}`);
  const body = await readBody(response);
  return { status: response.status, source: response.headers.get('x-edgepier-source'), length: Number(response.headers.get('content-length')), ...body };
}

/** Pulls once through a mirror, then "restarts" it on the same cache (a fresh process forgets what it verified). */
async function cachedThenRestarted(t: TestContext, upstream: LoopbackRegistry, digests: string[]): Promise<BudgetedMirror> {
  const cache = await makeTempDir('corrupt');
  t.after(() => cache.remove());
  const first = await startBudgetedMirror({ upstreamUrl: upstream.url, cacheDir: cache.path });
  for (const digest of digests) assert.equal((await get(first, digest)).status, 200);
  await waitUntil(() => first.mirror.activeDownloads === 0, 'the downloads to finish');
  await first.close({ keepCache: true });
  const second = await startBudgetedMirror({ upstreamUrl: upstream.url, cacheDir: cache.path });
  t.after(() => second.close({ keepCache: true }));
  return second;
}

describe('corrupt cached content is never served and heals itself', () => {
  test('a large blob with a flipped byte: the response is cut before its end, the blob dropped, the next pull re-fetched', async (t) => {
    const upstream = await startLoopbackRegistry(t);
    const bytes = randomBytes(6 * 1024 * 1024);
    const digest = upstream.addBlob(bytes);
    const mirror = await cachedThenRestarted(t, upstream, [digest]);
    await flipByte(mirror.cacheDir, digest, 3 * 1024 * 1024);

    const bad = await get(mirror, digest);
    assert.equal(bad.source, 'cache');
    assert.equal(bad.complete && bad.bytes.length === bad.length, false, 'the client never receives a complete corrupt body');
    assert.ok(bad.bytes.length < bytes.length);
    assert.deepEqual(mirror.removed.map((r) => r.reason), ['corrupt']);

    const healed = await get(mirror, digest);
    assert.equal(healed.source, 'upstream');
    assert.ok(healed.complete && healed.bytes.equals(bytes));
    assert.equal(upstream.blobGets(digest), 2);
  });

  test('a small blob (manifest-sized) with a flipped byte is re-fetched transparently: the client sees good bytes at once', async (t) => {
    const upstream = await startLoopbackRegistry(t);
    const bytes = randomBytes(50_000);
    const digest = upstream.addBlob(bytes);
    const mirror = await cachedThenRestarted(t, upstream, [digest]);
    await flipByte(mirror.cacheDir, digest, 100);
    const answer = await get(mirror, digest);
    assert.equal(answer.source, 'upstream');
    assert.ok(answer.complete && answer.bytes.equals(bytes));
    assert.equal(upstream.blobGets(digest), 2);
  });

  test('a truncated file fails the size check on open and is re-fetched', async (t) => {
    const upstream = await startLoopbackRegistry(t);
    const bytes = randomBytes(6 * 1024 * 1024);
    const digest = upstream.addBlob(bytes);
    const mirror = await cachedThenRestarted(t, upstream, [digest]);
    await truncate(contentPath(mirror.cacheDir, toIntegrity(parseDigest(digest))), 1000);
    const answer = await get(mirror, digest);
    assert.equal(answer.source, 'upstream');
    assert.ok(answer.complete && answer.bytes.equals(bytes));
  });

  test('a range request on a never-verified blob checks the whole blob first', async (t) => {
    const upstream = await startLoopbackRegistry(t);
    const bytes = randomBytes(6 * 1024 * 1024);
    const digest = upstream.addBlob(bytes);
    const mirror = await cachedThenRestarted(t, upstream, [digest]);
    await flipByte(mirror.cacheDir, digest, 5 * 1024 * 1024);
    const response = await fetch(`${mirror.url}/v2/app/blobs/${digest}`, { headers: { range: 'bytes=0-99' } });
    assert.equal(response.status, 503);
    await response.arrayBuffer();
    const healed = await get(mirror, digest);
    assert.ok(healed.complete && healed.bytes.equals(bytes));
  });

  test('cost of the first-serve hash check (printed)', async (t) => {
    const upstream = await startLoopbackRegistry(t);
    const size = 256 * 1024 * 1024;
    const digest = upstream.addBlob(randomBytes(size));
    const mirror = await cachedThenRestarted(t, upstream, [digest]);
    const timed = async (): Promise<number> => {
      const started = performance.now();
      const answer = await get(mirror, digest);
      assert.ok(answer.complete && answer.bytes.length === size && answer.source === 'cache');
      return performance.now() - started;
    };
    const verified = await timed(); // first serve after start: hashed while streaming
    const plain = Math.min(await timed(), await timed()); // later serves: plain reads
    const mbps = (ms: number): string => ((size / 1024 / 1024 / ms) * 1000).toFixed(0);
    console.log(
      `# first-serve verification of a 256 MiB blob: ${verified.toFixed(0)} ms (${mbps(verified)} MiB/s) ` +
        `vs ${plain.toFixed(0)} ms (${mbps(plain)} MiB/s) unverified, client included`,
    );
  });
});
