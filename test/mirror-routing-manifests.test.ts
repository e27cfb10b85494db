import { parseDigest } from '../oci/digest.js';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { LoopbackRegistry } from './support/loopback-registry.js';
import { startMirror, type MirrorUnderTest } from './support/mirror-under-test.js';

const sha256 = (bytes: Buffer): string => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

describe('routing to upstreams, and manifests by tag and digest', () => {
  const hub = new LoopbackRegistry();
  const ghcr = new LoopbackRegistry();
  let mirror: MirrorUnderTest;

  before(async () => {
    await hub.start();
    await ghcr.start();
    mirror = await startMirror({
      upstreams: [
        { registry: 'docker.io', url: hub.url },
        { registry: 'ghcr.io', url: ghcr.url },
      ],
      tagTimeoutMs: 1_000,
    });
  });
  after(async () => {
    await mirror.close();
    await hub.stop();
    await ghcr.stop();
  });

  test("Docker Hub's implicit library/ prefix", async () => {
    const { digest, body } = hub.addManifest('library/alpine', 'latest', { schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', layers: [] });
    const response = await fetch(`${mirror.url}/v2/alpine/manifests/latest`);
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('docker-content-digest'), digest);
    assert.equal(response.headers.get('content-type'), 'application/vnd.oci.image.manifest.v1+json');
    assert.deepEqual(Buffer.from(await response.arrayBuffer()), body);
    assert.ok(hub.count((request) => request.path === '/v2/library/alpine/manifests/latest') >= 1);
  });

  test("containerd's ?ns= picks the upstream and is echoed as OCI-Namespace", async () => {
    const { digest } = ghcr.addManifest('org/app', 'v1', { schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { n: 1 } });
    const response = await fetch(`${mirror.url}/v2/org/app/manifests/v1?ns=ghcr.io`);
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('oci-namespace'), 'ghcr.io');
    assert.equal(response.headers.get('docker-content-digest'), digest);
    assert.equal(hub.count((request) => request.path.includes('org/app')), 0);
  });

  test("Podman's registry-host path prefix picks the upstream", async () => {
    const layer = randomBytes(2048);
    const digest = ghcr.addBlob(layer);
    const response = await fetch(`${mirror.url}/v2/ghcr.io/org/app/blobs/${digest}`);
    assert.equal(response.status, 200);
    assert.equal(sha256(Buffer.from(await response.arrayBuffer())), digest);
    assert.equal(ghcr.count((request) => request.path === `/v2/org/app/blobs/${digest}`), 1);
  });

  test('a manifest by digest is cached: the second GET does not reach upstream', async () => {
    const { digest, body } = hub.addManifest('library/busybox', 'x', { schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', layers: [1] });
    const first = await fetch(`${mirror.url}/v2/library/busybox/manifests/${digest}`);
    assert.deepEqual(Buffer.from(await first.arrayBuffer()), body);
    const hits = hub.count((request) => request.path.endsWith(digest));
    const second = await fetch(`${mirror.url}/v2/library/busybox/manifests/${digest}`);
    assert.equal(second.headers.get('x-edgepier-source'), 'cache');
    assert.deepEqual(Buffer.from(await second.arrayBuffer()), body);
    assert.equal(hub.count((request) => request.path.endsWith(digest)), hits);
  });

  test('HEAD by tag of a cached manifest is answered with one upstream HEAD and no GET', async () => {
    hub.addManifest('library/redis', '7', { schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', layers: [7] });
    await (await fetch(`${mirror.url}/v2/redis/manifests/7`)).arrayBuffer();
    const gets = hub.count((request) => request.method === 'GET' && request.path === '/v2/library/redis/manifests/7');
    const head = await fetch(`${mirror.url}/v2/redis/manifests/7`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('x-edgepier-source'), 'cache');
    assert.equal(hub.count((request) => request.method === 'GET' && request.path === '/v2/library/redis/manifests/7'), gets);
    assert.equal(hub.count((request) => request.method === 'HEAD' && request.path === '/v2/library/redis/manifests/7'), 1);
  });

  test('a manifest whose bytes do not match the requested digest is refused and not cached', async () => {
    const honest = Buffer.from('{"schemaVersion":2,"honest":true}');
    const claimed = sha256(honest);
    hub.forgeManifest(claimed, Buffer.from('{"schemaVersion":2,"honest":false}'));
    const response = await fetch(`${mirror.url}/v2/library/liar/manifests/${claimed}`);
    assert.equal(response.status, 502);
    const body = (await response.json()) as { errors: { code: string; message: string }[] };
    assert.equal(body.errors[0]?.code, 'UPSTREAM_ERROR');
    assert.equal(body.errors[0]?.message, `upstream docker.io sent a manifest that does not match ${claimed}`);
    assert.equal(await mirror.store.stat(parseDigest(claimed)), undefined, 'nothing was cached');
  });
});

describe('a tag survives the upstream going away', () => {
  test('the last known tag mapping is served (marked stale) when upstream is unreachable', async () => {
    const upstream = new LoopbackRegistry();
    await upstream.start();
    const mirror = await startMirror({ upstreams: [{ registry: 'docker.io', url: upstream.url }], tagTimeoutMs: 1_000, upstreamTimeoutMs: 1_000 });
    try {
      const { digest, body } = upstream.addManifest('library/nginx', 'stable', { schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', n: 'stable' });
      const fresh = await fetch(`${mirror.url}/v2/nginx/manifests/stable`);
      assert.equal(fresh.headers.get('x-edgepier-source'), 'upstream');
      await fresh.arrayBuffer();
      await upstream.stop();
      const stale = await fetch(`${mirror.url}/v2/nginx/manifests/stable`);
      assert.equal(stale.status, 200);
      assert.equal(stale.headers.get('x-edgepier-stale'), 'true');
      assert.equal(stale.headers.get('docker-content-digest'), digest);
      assert.deepEqual(Buffer.from(await stale.arrayBuffer()), body);
      const unknown = await fetch(`${mirror.url}/v2/nginx/manifests/never-seen`);
      assert.equal(unknown.status, 502, 'a tag never resolved cannot be served offline');
    } finally {
      await mirror.close();
      await upstream.stop();
    }
  });
});
