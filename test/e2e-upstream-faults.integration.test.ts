// Faults injected between EdgePier and a real docker-registry: each costs a clean OCI error
// (or a cut connection once bytes are flowing), never a crash and never a cache entry.
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parseDigest } from '../oci/digest.js';
import { startCountingProxy, type CountingProxy } from './support/counting-proxy.js';
import { startMirror, type MirrorUnderTest } from './support/mirror-under-test.js';
import { startRegistry, type RunningRegistry } from './support/registry-process.js';
import { sha256Digest } from './support/sha256.js';
import { buildImage, pushImage, type PushedImage } from './support/test-image.js';

describe('upstream faults against a real registry', () => {
  let registry: RunningRegistry;
  let proxy: CountingProxy;
  let mirror: MirrorUnderTest;
  let image: PushedImage;
  const cleanups: Array<() => Promise<void>> = [];

  before(async () => {
    registry = await startRegistry({ auth: 'none' });
    cleanups.push(() => registry.stop());
    const layout = await buildImage({ layers: 5, layerSize: 400_000, seed: 'faults' });
    cleanups.push(() => layout.cleanup());
    image = await pushImage(layout, registry, 'faults/app:v1');
    proxy = await startCountingProxy(registry.url);
    cleanups.push(() => proxy.close());
    mirror = await startMirror({ upstreams: [{ registry: 'cloud.test', url: proxy.url }], upstreamTimeoutMs: 1_000 });
    cleanups.unshift(() => mirror.close());
  });
  after(async () => {
    for (const cleanup of cleanups) await cleanup();
  });

  const layers = (): string[] => [...image.blobs.keys()];
  const layer = (index: number): string => layers()[index] ?? assert.fail('no layer');
  const isCached = async (digest: string): Promise<boolean> => (await mirror.store.stat(parseDigest(digest))) !== undefined;
  const errorCode = async (response: Response): Promise<string | undefined> => ((await response.json()) as { errors: { code: string }[] }).errors[0]?.code;

  test('connection reset on every try: 502 UPSTREAM_ERROR, nothing cached', async () => {
    const digest = layer(0);
    proxy.setFault({ kind: 'reset', path: new RegExp(digest) });
    const response = await fetch(`${mirror.url}/v2/faults/app/blobs/${digest}`);
    assert.equal(response.status, 502);
    assert.equal(await errorCode(response), 'UPSTREAM_ERROR');
    assert.equal(await isCached(digest), false);
    proxy.setFault(null);
  });

  test('a single reset is retried transparently', async () => {
    const digest = layer(1);
    proxy.setFault({ kind: 'reset', path: new RegExp(digest), times: 1 });
    const response = await fetch(`${mirror.url}/v2/faults/app/blobs/${digest}`);
    assert.equal(response.status, 200);
    assert.equal(sha256Digest(Buffer.from(await response.arrayBuffer())), digest);
    proxy.setFault(null);
  });

  test('a hanging upstream: 504 UPSTREAM_TIMEOUT within the configured bound', async () => {
    const digest = layer(2);
    proxy.setFault({ kind: 'hang', path: new RegExp(digest) });
    const started = Date.now();
    const response = await fetch(`${mirror.url}/v2/faults/app/blobs/${digest}`);
    assert.equal(response.status, 504);
    assert.equal(await errorCode(response), 'UPSTREAM_TIMEOUT');
    assert.ok(Date.now() - started < 6_000);
    proxy.setFault(null);
  });

  test('corrupt bytes from upstream are never cached and never delivered whole', async () => {
    const digest = layer(3);
    proxy.setFault({ kind: 'corrupt', path: new RegExp(digest) });
    const received = await fetch(`${mirror.url}/v2/faults/app/blobs/${digest}`).then(
      async (response) => Buffer.from(await response.arrayBuffer()),
      () => undefined,
    ).catch(() => undefined);
    assert.ok(received === undefined || sha256Digest(received) !== digest);
    assert.ok(received === undefined || received.length < (image.blobs.get(digest)?.length ?? 0), 'never a complete body');
    assert.equal(await isCached(digest), false);
    proxy.setFault(null);
    const healed = await fetch(`${mirror.url}/v2/faults/app/blobs/${digest}`);
    assert.equal(sha256Digest(Buffer.from(await healed.arrayBuffer())), digest);
  });

  test('the process survives all of it: no spool files are left and the base endpoint answers', async () => {
    const deadline = Date.now() + 5_000;
    let spools: string[] = [];
    do {
      spools = await readdir(join(mirror.cacheDir, 'tmp')).catch(() => []);
      if (spools.length === 0) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    } while (Date.now() < deadline);
    assert.deepEqual(spools, []);
    assert.equal((await fetch(`${mirror.url}/v2/`)).status, 200);
  });
});
