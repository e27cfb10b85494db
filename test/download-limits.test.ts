// Issue 15: a download is bounded by its size, its sources' pace and its own spool bound,
// against real HTTP sources on loopback that flood, trickle, stall or lie.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import type { BlobWriter } from '../cache/blob-store.js';
import { BudgetedBlobStore } from '../cache/budgeted-blob-store.js';
import { MemoryBlobStore } from '../cache/memory-blob-store.js';
import { BlobDownload } from '../mirror/blob-download.js';
import type { BlobSource, BlobSourceKind } from '../mirror/blob-source.js';
import { DescriptorSizes } from '../mirror/descriptor-sizes.js';
import { PaceWatch, type SourcePace } from '../mirror/source-pace.js';
import type { SourceFault } from '../mirror/source-fault.js';
import { parseDigest } from '../oci/digest.js';
import { GotRegistryClient } from '../upstream/got-registry-client.js';
import { LoopbackRegistry } from './support/loopback-registry.js';
import { mirrorOverLoopback } from './support/mirror-over-loopback.js';
import { waitUntil } from './support/wait-until.js';

const logger = pino({ level: process.env.EDGEPIER_TEST_LOG ?? 'silent' });
const sha256 = (bytes: Buffer): string => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
const MiB = 1024 * 1024;
/** Generous for a healthy loopback source, tight enough that a bad one is dropped fast. */
const PACE: SourcePace = { stallMs: 500, minBytesPerSecond: 256 * 1024, rateWindowMs: 1_000, hedgeAfterMs: 0 };

interface CountedSource extends BlobSource {
  corrupt: number;
}

function sourceFrom(registry: LoopbackRegistry, digest: string, name: string, kind: BlobSourceKind = 'upstream'): CountedSource {
  const client = new GotRegistryClient({ registry: name, url: registry.url, timeoutMs: 5_000, logger });
  const source: CountedSource = {
    kind,
    name,
    corrupt: 0,
    open: (offset, signal) => client.fetchBlob('app', digest, { offset, signal }),
    reportCorrupt: () => {
      source.corrupt += 1;
    },
  };
  return source;
}

/** Records the most bytes a spool ever held: the flood must never get past the blob's size. */
function highWater(writer: BlobWriter): { writer: BlobWriter; max: () => number } {
  let max = 0;
  const watched: BlobWriter = {
    get digest() {
      return writer.digest;
    },
    get bytesWritten() {
      return writer.bytesWritten;
    },
    write: async (chunk) => {
      await writer.write(chunk);
      max = Math.max(max, writer.bytesWritten);
    },
    read: (position, length) => writer.read(position, length),
    commit: () => writer.commit(),
    abort: () => writer.abort(),
  };
  return { writer: watched, max: () => max };
}

describe('a download is bounded by size, pace and spool', () => {
  const bad = new LoopbackRegistry();
  const good = new LoopbackRegistry();

  before(async () => {
    await bad.start();
    await good.start();
  });
  after(async () => {
    await bad.stop();
    await good.stop();
  });

  function blob(size = MiB): { bytes: Buffer; digest: string } {
    const bytes = randomBytes(size);
    const digest = bad.addBlob(bytes);
    good.addBlob(bytes);
    return { bytes, digest };
  }

  async function download(store: MemoryBlobStore | BudgetedBlobStore, digest: string, sources: BlobSource[], expectedSize?: number): Promise<{ download: BlobDownload; spoolMax: () => number }> {
    const { writer, max } = highWater(await store.createWriter(parseDigest(digest)));
    const started = new BlobDownload(writer, sources, logger, {
      pace: PACE,
      ...(expectedSize !== undefined ? { expectedSize } : {}),
      reopen: () => store.createWriter(parseDigest(digest)),
    });
    return { download: started, spoolMax: max };
  }

  async function stored(store: MemoryBlobStore | BudgetedBlobStore, digest: string): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const chunk of await store.createReadStream(parseDigest(digest))) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }

  test('a 1 GiB answer whose Content-Length contradicts the known size is refused before it is read', async () => {
    const { bytes, digest } = blob();
    bad.setBehaviour(digest, { kind: 'flood', prefix: 'junk', extra: 1024 * MiB, contentLength: 'sent' }, 1);
    const store = new MemoryBlobStore();
    const liar = sourceFrom(bad, digest, 'liar');
    const { download: running, spoolMax } = await download(store, digest, [liar, sourceFrom(good, digest, 'good')], bytes.length);
    const committed = await running.finished;
    assert.equal(committed.size, bytes.length);
    assert.ok((await stored(store, digest)).equals(bytes), 'correct bytes, from the next source');
    assert.equal(running.source, 'good');
    assert.equal(liar.corrupt, 1, 'the liar is reported');
    assert.ok(spoolMax() <= bytes.length, `spool never past the size (${spoolMax()})`);
    // Only what the socket buffers took before the header was judged: far from 1 GiB.
    assert.ok((bad.floodSent.get(digest) ?? 0) < 64 * MiB, `the flood was cut early (${bad.floodSent.get(digest)} sent)`);
  });

  test('a junk flood without Content-Length is cut at the size and the download starts over elsewhere', async () => {
    const { bytes, digest } = blob();
    bad.setBehaviour(digest, { kind: 'flood', prefix: 'junk', extra: 1024 * MiB, contentLength: 'none' }, 1);
    const store = new MemoryBlobStore();
    const liar = sourceFrom(bad, digest, 'liar');
    const { download: running, spoolMax } = await download(store, digest, [liar, sourceFrom(good, digest, 'good')], bytes.length);
    await running.finished;
    assert.ok((await stored(store, digest)).equals(bytes));
    assert.ok(liar.corrupt >= 1, 'the flooding source is reported');
    assert.ok(spoolMax() <= bytes.length, `spool never past the size (${spoolMax()})`);
    assert.ok((bad.floodSent.get(digest) ?? 0) < 64 * MiB, `the flood was cut early (${bad.floodSent.get(digest)} sent)`);
  });

  test('the right blob followed by more than the descriptor says: cut at the size, verified, committed, source avoided', async () => {
    const { bytes, digest } = blob();
    bad.setBehaviour(digest, { kind: 'flood', prefix: 'blob', extra: 256 * MiB, contentLength: 'none' }, 1);
    const store = new MemoryBlobStore();
    const chatty = sourceFrom(bad, digest, 'chatty');
    const goodSource = sourceFrom(good, digest, 'good');
    const before = good.blobGets(digest);
    const { download: running, spoolMax } = await download(store, digest, [chatty, goodSource], bytes.length);
    await running.finished;
    assert.ok((await stored(store, digest)).equals(bytes));
    assert.equal(chatty.corrupt, 1);
    assert.equal(good.blobGets(digest), before, 'no fallback was needed: the bytes up to the size were right');
    assert.ok(spoolMax() <= bytes.length);
  });

  test('a source trickling one byte every 20 s is dropped within the stall window and the download moves on to the next source', async () => {
    const { bytes, digest } = blob(512 * 1024);
    bad.setBehaviour(digest, { kind: 'slow', chunk: 1, intervalMs: 20_000 }, 1);
    const store = new MemoryBlobStore();
    const started = Date.now();
    const { download: running } = await download(store, digest, [sourceFrom(bad, digest, 'trickle'), sourceFrom(good, digest, 'good')]);
    await running.finished;
    const took = Date.now() - started;
    assert.ok((await stored(store, digest)).equals(bytes));
    assert.equal(running.source, 'good');
    // The stall window is 500 ms; the client's own timeout (5 s) must not be what saved it.
    assert.ok(took < 2_500, `moved on after the stall window, not the 20 s trickle (${took} ms)`);
  });

  test('a source below the throughput floor (but never silent) is dropped after the rate window', async () => {
    const { bytes, digest } = blob(512 * 1024);
    // 2 kB every 20 ms = 100 kB/s: bytes keep coming (an idle timer never fires), under the 256 kB/s floor.
    bad.setBehaviour(digest, { kind: 'slow', chunk: 2048, intervalMs: 20 }, 1);
    const store = new MemoryBlobStore();
    const started = Date.now();
    const { download: running } = await download(store, digest, [sourceFrom(bad, digest, 'slow'), sourceFrom(good, digest, 'good')], bytes.length);
    await running.finished;
    assert.ok((await stored(store, digest)).equals(bytes));
    assert.equal(running.source, 'good');
    assert.ok(Date.now() - started < 5_000);
    const ranged = good.requests.filter((request) => request.path.endsWith(digest) && request.range);
    assert.equal(ranged.length, 1, 'the good source was asked only for the rest');
    assert.match(ranged[0]?.range ?? '', /^bytes=[1-9]\d*-$/);
  });

  test('a source that stalls after half is dropped and the rest comes from the next source with Range', async () => {
    const { bytes, digest } = blob();
    bad.setBehaviour(digest, { kind: 'held', fraction: 0.5, until: new Promise(() => undefined) }, 1);
    const store = new MemoryBlobStore();
    const { download: running } = await download(store, digest, [sourceFrom(bad, digest, 'stalls'), sourceFrom(good, digest, 'good')], bytes.length);
    await running.finished;
    assert.ok((await stored(store, digest)).equals(bytes));
    const ranged = good.requests.filter((request) => request.path.endsWith(digest) && request.range);
    assert.ok(ranged.length >= 1, 'resumed with Range');
  });

  test('a peer slow to answer is raced by the next peer (hedge); the first answer wins', async () => {
    const { bytes, digest } = blob(256 * 1024);
    bad.setBehaviour(digest, { kind: 'hang' }, 1);
    const store = new MemoryBlobStore();
    const { writer } = highWater(await store.createWriter(parseDigest(digest)));
    const started = Date.now();
    const running = new BlobDownload(writer, [sourceFrom(bad, digest, 'peer:slow', 'peer'), sourceFrom(good, digest, 'peer:fast', 'peer')], logger, {
      pace: { ...PACE, hedgeAfterMs: 100 },
    });
    await running.finished;
    assert.equal(running.source, 'peer:fast');
    assert.ok(Date.now() - started < 3_000, 'did not wait for the silent peer\'s 5 s timeout');
    assert.ok((await stored(store, digest)).equals(bytes));
  });

  test('a client reading a download that starts over is cut, never handed a complete wrong body', async () => {
    const { bytes, digest } = blob();
    bad.setBehaviour(digest, { kind: 'corrupt' }, 1);
    const store = new MemoryBlobStore();
    const { download: running } = await download(store, digest, [sourceFrom(bad, digest, 'corrupt'), sourceFrom(good, digest, 'good')], bytes.length);
    const early = running.createReader(0, bytes.length - 1);
    const received: Buffer[] = [];
    const outcome = new Promise<'ended' | 'cut'>((resolve) => {
      early.on('data', (chunk: Buffer) => received.push(chunk));
      early.once('end', () => resolve('ended'));
      early.once('error', () => resolve('cut'));
    });
    await running.finished;
    const result = await outcome;
    if (result === 'ended') assert.ok(Buffer.concat(received).equals(bytes), 'a reader that finished got the right bytes');
    else assert.ok(Buffer.concat(received).length < bytes.length, 'a cut reader never got a whole body');
    assert.ok((await stored(store, digest)).equals(bytes), 'the cache holds the verified bytes from the next source');
    const late = running.createReader(0, bytes.length - 1);
    const chunks: Buffer[] = [];
    for await (const chunk of late) chunks.push(chunk as Buffer);
    assert.ok(Buffer.concat(chunks).equals(bytes));
  });

  test('a flood of unknown size spools no further than the spool bound and evicts no verified blob', async () => {
    const store = new BudgetedBlobStore({ inner: new MemoryBlobStore(), logger, budget: { maxBytes: 3 * MiB, lowWaterBytes: 2 * MiB }, maxSpoolBytes: 4 * MiB });
    const keep = randomBytes(2 * MiB);
    const keepDigest = parseDigest(sha256(keep));
    const keepWriter = await store.createWriter(keepDigest);
    await keepWriter.write(keep);
    await keepWriter.commit();
    await keepWriter.abort();
    const { bytes, digest } = blob(MiB);
    // No manifest seen, no length announced: nothing says how big it is.
    bad.setBehaviour(digest, { kind: 'flood', prefix: 'junk', extra: 24 * MiB, contentLength: 'none' }, 1);
    let peakSpool = 0;
    const { download: running } = await download(store, digest, [sourceFrom(bad, digest, 'flood')]);
    const reader = running.createReader(0);
    const sampler = setInterval(() => {
      peakSpool = Math.max(peakSpool, store.spooledBytes);
    }, 5);
    let received = 0;
    let complete = true;
    try {
      for await (const chunk of reader) received += (chunk as Buffer).length;
    } catch {
      complete = false;
    }
    clearInterval(sampler);
    await running.finished.catch(() => undefined);
    peakSpool = Math.max(peakSpool, store.spooledBytes);
    assert.ok(!complete, `the client never got a complete body of junk (${received} bytes, then cut)`);
    assert.ok(peakSpool <= 4 * MiB, `spool stayed within its bound (${peakSpool})`);
    await store.evictNow();
    assert.ok(await store.stat(keepDigest), 'the verified blob was not evicted');
    assert.equal(await store.stat(parseDigest(digest)), undefined, 'nothing unverified cached');
    assert.ok(bytes.length > 0);
  });
});

describe('through the mirror: the manifest tells the layer size', () => {
  const fixture = mirrorOverLoopback();
  const { upstream } = fixture;

  test('after the manifest passed, a 1 GiB Content-Length for its 1 MiB layer is refused at the header, and nothing is cached', async () => {
    const layer = randomBytes(MiB);
    const digest = upstream.addBlob(layer);
    upstream.addManifest('app', 'v1', { schemaVersion: 2, config: { digest, size: layer.length, mediaType: 'application/octet-stream' }, layers: [{ digest, size: layer.length, mediaType: 'application/octet-stream' }] });
    const manifest = await fetch(`${fixture.mirror.url}/v2/app/manifests/v1`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
    assert.equal(manifest.status, 200);
    await manifest.arrayBuffer();
    upstream.setBehaviour(digest, { kind: 'flood', prefix: 'junk', extra: 1024 * MiB, contentLength: 'sent' }, 1);
    const refused = await fetch(`${fixture.mirror.url}/v2/app/blobs/${digest}`);
    assert.equal(refused.status, 502, 'a clean error before any byte, not a 1 GiB body');
    const body = (await refused.json()) as { errors: { code: string; message: string }[] };
    assert.equal(body.errors[0]?.code, 'UPSTREAM_ERROR');
    assert.match(body.errors[0]?.message ?? '', /announces 1074790400 bytes, the blob has 1048576/);
    assert.ok((upstream.floodSent.get(digest) ?? 0) < 64 * MiB);
    await waitUntil(() => fixture.mirror.mirror.activeDownloads === 0, 'the download to settle');
    assert.equal(await fixture.mirror.store.stat(parseDigest(digest)), undefined, 'nothing cached');
    const healed = await fetch(`${fixture.mirror.url}/v2/app/blobs/${digest}`);
    assert.equal(sha256(Buffer.from(await healed.arrayBuffer())), digest, 'the next pull, upstream healed, gets the right bytes');
  });
});

describe('PaceWatch on an injected clock', () => {
  function watched(pace: SourcePace): { clock: { now: number }; drops: SourceFault[]; watch: PaceWatch } {
    const clock = { now: 1_000 };
    const drops: SourceFault[] = [];
    const watch = new PaceWatch(pace, (fault) => drops.push(fault), () => clock.now);
    return { clock, drops, watch };
  }

  test('a byte every 20 s is dropped at the stall timeout, however long it would go on', () => {
    const { clock, drops, watch } = watched({ stallMs: 10_000, minBytesPerSecond: 0, rateWindowMs: 20_000, hedgeAfterMs: 0 });
    clock.now += 9_999;
    watch.check();
    assert.equal(drops.length, 0);
    clock.now += 1;
    watch.check();
    assert.equal(drops.length, 1);
    assert.equal(drops[0]?.kind, 'slow');
    watch.stop();
  });

  test('below the floor over the window is dropped; a healthy 50 Mbit/s link is not', () => {
    const pace = { stallMs: 10_000, minBytesPerSecond: 16 * 1024, rateWindowMs: 20_000, hedgeAfterMs: 0 };
    const slow = watched(pace);
    for (let second = 0; second < 20; second += 1) {
      slow.clock.now += 1_000;
      slow.watch.received(8 * 1024);
      slow.watch.check();
    }
    assert.equal(slow.drops.length, 1, '8 kB/s is under a 16 KiB/s floor');
    const healthy = watched(pace);
    for (let tick = 0; tick < 600; tick += 1) {
      healthy.clock.now += 100;
      healthy.watch.received(625_000);
      healthy.watch.check();
    }
    assert.equal(healthy.drops.length, 0, '6.25 MB/s for a minute never trips it');
    slow.watch.stop();
    healthy.watch.stop();
  });

  test('time we spend waiting (disk, readers) is not blamed on the source', () => {
    const { clock, drops, watch } = watched({ stallMs: 1_000, minBytesPerSecond: 1024, rateWindowMs: 2_000, hedgeAfterMs: 0 });
    watch.pause();
    clock.now += 60_000;
    watch.check();
    watch.resume();
    watch.check();
    assert.equal(drops.length, 0);
    clock.now += 1_000;
    watch.check();
    assert.equal(drops.length, 1);
    watch.stop();
  });
});

describe('DescriptorSizes', () => {
  test('learns layer, config and index sizes; ignores what is not a descriptor; stays bounded', () => {
    const sizes = new DescriptorSizes(2);
    const layer = `sha256:${'a'.repeat(64)}`;
    const config = `sha256:${'b'.repeat(64)}`;
    const child = `sha256:${'c'.repeat(64)}`;
    sizes.learn('m1', Buffer.from(JSON.stringify({ config: { digest: config, size: 10 }, layers: [{ digest: layer, size: 1048576 }, { digest: 'nope', size: 3 }, { digest: layer, size: -1 }] })));
    assert.equal(sizes.sizeOf(layer), 1048576);
    assert.equal(sizes.sizeOf(config), 10);
    sizes.learn('m2', Buffer.from(JSON.stringify({ manifests: [{ digest: child, size: 500 }] })));
    assert.equal(sizes.entries, 2, 'bounded: the least recently used went');
    assert.equal(sizes.sizeOf(child), 500);
    sizes.learn('m3', Buffer.from('not json'));
    sizes.learn('m4', Buffer.from('[1,2]'));
    assert.equal(sizes.entries, 2);
  });
});
