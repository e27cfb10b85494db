// A cached blob that rots while the node runs (after it was verified and served) is never
// served again as it is: whole serves are hashed as they stream, ranges trigger a background
// check when the file's size or mtime changed. Real pulls with skopeo from a real registry.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { open, stat, utimes } from 'node:fs/promises';
import { Writable } from 'node:stream';
import { describe, test, type TestContext } from 'node:test';
import contentPath from 'cacache/lib/content/path.js';
import { pino, type Logger } from 'pino';
import { parseDigest, toIntegrity } from '../oci/digest.js';
import { startBudgetedMirror, type BudgetedMirror } from './support/budgeted-mirror.js';
import { startLoopbackRegistry, type LoopbackRegistry } from './support/loopback-registry.js';
import { readBody } from './support/read-body.js';
import { startRegistry } from './support/registry-process.js';
import { skopeoCopyFrom } from './support/skopeo.js';
import { buildImage, pushImage } from './support/test-image.js';
import { waitUntil } from './support/wait-until.js';

/** Flips one byte of the cached file; with `keepMtime` the file's times are put back (silent bit rot). */
async function rot(cacheDir: string, digest: string, position: number, options: { keepMtime: boolean }): Promise<void> {
  const path = contentPath(cacheDir, toIntegrity(parseDigest(digest)));
  const before = await stat(path);
  const file = await open(path, 'r+');
  try {
    const byte = Buffer.alloc(1);
    await file.read(byte, 0, 1, position);
    byte[0] = (byte[0] ?? 0) ^ 0x01;
    await file.write(byte, 0, 1, position);
  } finally {
    await file.close();
  }
  // Either way the change is unmistakable: the old times, or times a minute earlier.
  const shift = options.keepMtime ? 0 : 60;
  await utimes(path, before.atime.getTime() / 1000 - shift, before.mtime.getTime() / 1000 - shift);
}

function capture(): { logger: Logger; lines: () => Array<{ msg?: string; digest?: string }> } {
  let logged = '';
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      logged += chunk.toString('utf8');
      done();
    },
  });
  return {
    logger: pino({ level: 'info' }, sink),
    lines: () => logged.split('\n').filter((line) => line.length > 0).map((line) => JSON.parse(line) as { msg?: string; digest?: string }),
  };
}

async function settled(mirror: BudgetedMirror): Promise<void> {
  await waitUntil(() => mirror.mirror.activeDownloads === 0, 'downloads to finish');
}

async function cachedBlob(t: TestContext, size: number): Promise<{ upstream: LoopbackRegistry; mirror: BudgetedMirror; digest: string; bytes: Buffer; logged: ReturnType<typeof capture> }> {
  const upstream = await startLoopbackRegistry(t);
  const bytes = randomBytes(size);
  const digest = upstream.addBlob(bytes);
  const logged = capture();
  const mirror = await startBudgetedMirror({ upstreamUrl: upstream.url, logger: logged.logger });
  t.after(() => mirror.close());
  const first = await fetch(`${mirror.url}/v2/app/blobs/${digest}`);
  assert.ok((await readBody(first)).bytes.equals(bytes));
  await settled(mirror);
  return { upstream, mirror, digest, bytes, logged };
}

describe('no rot served', () => {
  test('skopeo: a layer corrupted on disk while the node runs; the next pull may fail, the one after gets correct bytes', async (t) => {
    const registry = await startRegistry();
    t.after(() => registry.stop());
    const layout = await buildImage({ layers: 2, layerSize: 6 * 1024 * 1024, seed: 'rot' });
    t.after(() => layout.cleanup());
    const image = await pushImage(layout, registry, 'rot/app:v1');
    const logged = capture();
    const mirror = await startBudgetedMirror({ upstreamUrl: registry.url, logger: logged.logger });
    t.after(() => mirror.close());

    const clean = await skopeoCopyFrom(mirror.url.replace('http://', ''), 'rot/app:v1');
    await clean.cleanup();
    await settled(mirror);
    const layer = image.platformLayers.get('linux/amd64')?.[1];
    assert.ok(layer);
    await rot(mirror.cacheDir, layer, 4 * 1024 * 1024, { keepMtime: true });

    const afterRot = await skopeoCopyFrom(mirror.url.replace('http://', ''), 'rot/app:v1').then(
      async (pulled) => {
        // The rotten bytes must not have reached it: skopeo checks digests, this checks again.
        assert.ok(pulled.blobs.get(layer)?.equals(image.blobs.get(layer) ?? Buffer.alloc(0)));
        await pulled.cleanup();
        return 'succeeded';
      },
      (error: unknown) => `failed: ${String(error).slice(0, 200)}`,
    );
    assert.deepEqual(mirror.removed, [{ digest: layer, reason: 'corrupt' }], `the rotten layer was dropped (first pull after: ${afterRot})`);
    await settled(mirror);
    const healed = await skopeoCopyFrom(mirror.url.replace('http://', ''), 'rot/app:v1');
    t.after(() => healed.cleanup());
    for (const [digest, bytes] of image.blobs) assert.ok(healed.blobs.get(digest)?.equals(bytes), `blob ${digest} correct`);
    const failure = logged.lines().find((line) => line.msg === 'blob stream failed mid-response');
    assert.equal(failure?.digest, layer, 'the cut response is logged with its cause');
  });

  test('silent rot (same size, same mtime) of a blob already served: the whole serve is cut, the next one re-fetched', async (t) => {
    const { upstream, mirror, digest, bytes } = await cachedBlob(t, 6 * 1024 * 1024);
    const served = await fetch(`${mirror.url}/v2/app/blobs/${digest}`);
    assert.equal(served.headers.get('x-edgepier-source'), 'cache');
    assert.ok((await readBody(served)).bytes.equals(bytes), 'a clean cached serve first');
    await rot(mirror.cacheDir, digest, 5 * 1024 * 1024, { keepMtime: true });

    const bad = await fetch(`${mirror.url}/v2/app/blobs/${digest}`);
    const body = await readBody(bad);
    assert.equal(bad.headers.get('x-edgepier-source'), 'cache');
    assert.ok(!body.complete || body.bytes.length < bytes.length, 'the client never receives the rotten body whole');
    assert.deepEqual(mirror.removed, [{ digest, reason: 'corrupt' }]);
    const healed = await fetch(`${mirror.url}/v2/app/blobs/${digest}`);
    assert.equal(healed.headers.get('x-edgepier-source'), 'upstream');
    assert.ok((await readBody(healed)).bytes.equals(bytes));
    assert.equal(upstream.blobGets(digest), 2);
  });

  test('a range on a file whose mtime changed is served, and the blob is checked behind it and dropped', async (t) => {
    const { upstream, mirror, digest, bytes } = await cachedBlob(t, 6 * 1024 * 1024);
    await rot(mirror.cacheDir, digest, 5 * 1024 * 1024, { keepMtime: false });
    const range = await fetch(`${mirror.url}/v2/app/blobs/${digest}`, { headers: { range: 'bytes=0-99' } });
    assert.equal(range.status, 206);
    assert.ok(Buffer.from(await range.arrayBuffer()).equals(bytes.subarray(0, 100)), 'the untouched part, at once');
    await waitUntil(() => mirror.removed.length > 0, 'the background check to drop the blob');
    assert.deepEqual(mirror.removed, [{ digest, reason: 'corrupt' }]);
    const healed = await fetch(`${mirror.url}/v2/app/blobs/${digest}`);
    assert.equal(healed.headers.get('x-edgepier-source'), 'upstream');
    assert.ok((await readBody(healed)).bytes.equals(bytes));
    assert.equal(upstream.blobGets(digest), 2);
  });

  test('a range on an unchanged verified file starts no check', async (t) => {
    const { mirror, digest, bytes, logged } = await cachedBlob(t, 6 * 1024 * 1024);
    for (let round = 0; round < 3; round += 1) {
      const range = await fetch(`${mirror.url}/v2/app/blobs/${digest}`, { headers: { range: 'bytes=100-199' } });
      assert.ok(Buffer.from(await range.arrayBuffer()).equals(bytes.subarray(100, 200)));
    }
    assert.equal(logged.lines().filter((line) => line.msg?.startsWith('cached file changed')).length, 0);
    assert.deepEqual(mirror.removed, []);
  });
});
