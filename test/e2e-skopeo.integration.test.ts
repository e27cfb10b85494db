// A real registry process, a real pulling client (skopeo), EdgePier in between: the pulled
// content must be byte-identical, and upstream traffic is counted at a proxy, not assumed.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, test, type TestContext } from 'node:test';
import { getFreePort, startProcess, waitForHttp } from './support/child-process.js';
import { startCountingProxy, type CountingProxy } from './support/counting-proxy.js';
import { startMirror, type MirrorUnderTest } from './support/mirror-under-test.js';
import { startRegistry, type RegistryAuth, type RunningRegistry } from './support/registry-process.js';
import { skopeoCopyFrom, type PulledImage } from './support/skopeo.js';
import { makeTempDir } from './support/temp-dir.js';
import { buildImage, pushImage, type PushedImage } from './support/test-image.js';

const BLOB_GET = /\/blobs\/sha256:[0-9a-f]{64}$/;

async function registryFor(t: TestContext, auth: RegistryAuth): Promise<RunningRegistry> {
  const registry = await startRegistry({ auth });
  t.after(() => registry.stop());
  return registry;
}

async function proxyFor(t: TestContext, target: string): Promise<CountingProxy> {
  const proxy = await startCountingProxy(target);
  t.after(() => proxy.close());
  return proxy;
}

async function mirrorFor(t: TestContext, proxy: CountingProxy, registry: RunningRegistry): Promise<MirrorUnderTest> {
  const credentials = registry.username ? { username: registry.username, password: registry.password ?? '' } : undefined;
  const mirror = await startMirror({ upstreams: [{ registry: 'cloud.test', url: proxy.url, ...(credentials ? { credentials } : {}) }] });
  t.after(() => mirror.close());
  return mirror;
}

async function pushed(t: TestContext, registry: RunningRegistry, reference: string, platforms?: ('linux/amd64' | 'linux/arm64')[]): Promise<PushedImage> {
  const layout = await buildImage({ layers: 3, layerSize: 300_000, seed: reference, ...(platforms ? { platforms } : {}) });
  t.after(() => layout.cleanup());
  return pushImage(layout, registry, reference);
}

async function pull(t: TestContext, mirror: MirrorUnderTest, reference: string, all = false): Promise<PulledImage> {
  const pulledImage = await skopeoCopyFrom(mirror.hostPort, reference, { all, timeoutMs: 60_000 });
  t.after(() => pulledImage.cleanup());
  return pulledImage;
}

function assertIdentical(pulledImage: PulledImage, image: PushedImage): void {
  assert.equal(pulledImage.topDigest, image.topDigest);
  assert.ok(pulledImage.blobs.size > 0);
  for (const [digest, bytes] of pulledImage.manifests) assert.ok(bytes.equals(image.manifests.get(digest) ?? Buffer.alloc(0)), `manifest ${digest}`);
  for (const [digest, bytes] of pulledImage.blobs) assert.ok(bytes.equals(image.blobs.get(digest) ?? Buffer.alloc(0)), `blob ${digest}`);
}

function blobGets(proxy: CountingProxy): Map<string, number> {
  const counts = new Map<string, number>();
  for (const record of proxy.requests) {
    if (record.method !== 'GET' || !BLOB_GET.test(record.path)) continue;
    const digest = record.path.slice(record.path.lastIndexOf('/') + 1);
    counts.set(digest, (counts.get(digest) ?? 0) + 1);
  }
  return counts;
}

describe('skopeo pulls through EdgePier from a real docker-registry', () => {
  for (const auth of ['none', 'basic', 'token'] satisfies RegistryAuth[]) {
    test(`multi-layer image, pulled twice, auth=${auth}: identical bytes, second pull makes no upstream blob request`, async (t) => {
      const registry = await registryFor(t, auth);
      const image = await pushed(t, registry, `e2e/app-${auth}:v1`);
      const proxy = await proxyFor(t, registry.url);
      const mirror = await mirrorFor(t, proxy, registry);

      assertIdentical(await pull(t, mirror, `e2e/app-${auth}:v1`), image);
      const firstPull = blobGets(proxy);
      assert.ok(firstPull.size >= 4, 'config and three layers');
      for (const [digest, count] of firstPull) assert.equal(count, 1, `blob ${digest} fetched once`);

      proxy.reset();
      assertIdentical(await pull(t, mirror, `e2e/app-${auth}:v1`), image);
      assert.equal(blobGets(proxy).size, 0, 'the second pull is served from cache');
      if (registry.tokenServer) {
        const before = registry.tokenServer.tokenRequests;
        assertIdentical(await pull(t, mirror, `e2e/app-${auth}:v1`), image);
        assert.equal(registry.tokenServer.tokenRequests, before, 'the cached token is reused');
      }
    });
  }

  test('multi-arch index with --all: every platform byte-identical', async (t) => {
    const registry = await registryFor(t, 'none');
    const image = await pushed(t, registry, 'e2e/multi:v1', ['linux/amd64', 'linux/arm64']);
    const proxy = await proxyFor(t, registry.url);
    const mirror = await mirrorFor(t, proxy, registry);
    const pulledImage = await pull(t, mirror, 'e2e/multi:v1', true);
    assertIdentical(pulledImage, image);
    assert.equal(pulledImage.manifests.size, 3, 'index and two platform manifests');
  });

  test('8 concurrent pulls of a cold image: exactly one upstream GET per blob', async (t) => {
    const registry = await registryFor(t, 'none');
    const image = await pushed(t, registry, 'e2e/rollout:v1');
    const proxy = await proxyFor(t, registry.url);
    const mirror = await mirrorFor(t, proxy, registry);
    const pulls = await Promise.all(Array.from({ length: 8 }, () => pull(t, mirror, 'e2e/rollout:v1')));
    for (const pulledImage of pulls) assertIdentical(pulledImage, image);
    const counts = blobGets(proxy);
    assert.equal(counts.size, image.blobs.size);
    for (const [digest, count] of counts) assert.equal(count, 1, `blob ${digest} fetched from upstream exactly once`);
  });

  test('the real CLI: with the upstream stopped, a pull by tag of a cached image still succeeds', async (t) => {
    const registry = await registryFor(t, 'none');
    const image = await pushed(t, registry, 'e2e/offline:v1');
    const cache = await makeTempDir('cli-cache');
    t.after(() => cache.remove());
    const port = await getFreePort();
    const cli = startProcess(
      process.execPath,
      ['--import', 'tsx', join(import.meta.dirname, '..', 'cli', 'main.ts'), 'serve', '--listen', `127.0.0.1:${port}`, '--peer-listen', '127.0.0.1:0', '--cache-dir', cache.path, '--upstream', registry.url, '--no-mdns', '--tag-timeout', '1s', '--upstream-timeout', '2s'],
      { name: 'edgepier-cli' },
    );
    t.after(() => cli.stop());
    await waitForHttp(`http://127.0.0.1:${port}/v2/`, { process: cli, deadlineMs: 20_000 });
    const mirror = `127.0.0.1:${port}`;
    const first = await skopeoCopyFrom(mirror, 'e2e/offline:v1', { timeoutMs: 60_000 });
    t.after(() => first.cleanup());
    assertIdentical(first, image);
    await registry.stop();
    const offline = await skopeoCopyFrom(mirror, 'e2e/offline:v1', { timeoutMs: 60_000 });
    t.after(() => offline.cleanup());
    assertIdentical(offline, image);
    assert.match(cli.stdout, /serving the last known tag mapping \(stale\)/);
    const exit = await cli.stop();
    assert.equal(exit.code, 0, `clean exit on SIGTERM: ${cli.diagnostics()}`);
  });

  test('credentials and tokens never reach the logs, even at trace level', async (t) => {
    const registry = await registryFor(t, 'token');
    const image = await pushed(t, registry, 'e2e/secret:v1');
    let logged = '';
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        logged += chunk.toString('utf8');
        done();
      },
    });
    const mirror = await startMirror({
      upstreams: [{ registry: 'cloud.test', url: registry.url, credentials: { username: registry.username ?? '', password: registry.password ?? '' } }],
      logger: pino({ level: 'trace' }, sink),
    });
    t.after(() => mirror.close());
    assertIdentical(await pull(t, mirror, 'e2e/secret:v1'), image);
    assert.ok(logged.includes('"msg":"request"'), 'the request log lines were captured');
    assert.ok(registry.password && !logged.includes(registry.password), 'the password is not logged');
    assert.ok(!/eyJ[A-Za-z0-9_-]{10,}/.test(logged), 'no JWT is logged');
    assert.ok(!/authorization/i.test(logged), 'no Authorization header is logged');
  });
});
