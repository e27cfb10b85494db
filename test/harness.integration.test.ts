// Proves the integration-test harness against itself: real registry processes (no auth, htpasswd,
// Bearer tokens), skopeo pushing and pulling through the counting proxy, the token server's
// counters, and every fault the proxy can inject. No EdgePier code is involved here.
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { getFreePort, liveProcesses, startProcess, waitForHttp } from './support/child-process.js';
import { startCountingProxy, type CountingProxy } from './support/counting-proxy.js';
import { RegistryHttpClient } from './support/registry-http-client.js';
import { startRegistry, type RegistryAuth, type RunningRegistry, type StartRegistryOptions } from './support/registry-process.js';
import { sha256Digest } from './support/sha256.js';
import { skopeoCopyFrom, skopeoInspectRaw, type PulledImage, type SkopeoCredentials } from './support/skopeo.js';
import { buildImage, pushImage, type PushedImage } from './support/test-image.js';

const BLOB_GET = /^\/v2\/.+\/blobs\/sha256:[0-9a-f]{64}$/;

async function registryFor(t: TestContext, options: StartRegistryOptions): Promise<RunningRegistry> {
  const registry = await startRegistry(options);
  t.after(() => registry.stop());
  return registry;
}

async function proxyFor(t: TestContext, targetUrl: string): Promise<CountingProxy> {
  const proxy = await startCountingProxy(targetUrl);
  t.after(() => proxy.close());
  return proxy;
}

function credsOf(registry: RunningRegistry): SkopeoCredentials | undefined {
  return registry.username === undefined ? undefined : { username: registry.username, password: registry.password ?? '' };
}

/** Builds and pushes a 3-layer single-platform image and a 2-platform index. */
async function pushFixtures(t: TestContext, registry: RunningRegistry): Promise<{ single: PushedImage; multi: PushedImage }> {
  const singleLayout = await buildImage({ layers: 3, layerSize: 200_000, seed: 'harness-single' });
  t.after(() => singleLayout.cleanup());
  const multiLayout = await buildImage({ layers: 2, layerSize: 50_000, seed: 'harness-multi', platforms: ['linux/amd64', 'linux/arm64'] });
  t.after(() => multiLayout.cleanup());
  return {
    single: await pushImage(singleLayout, registry, 'harness/single:v1'),
    multi: await pushImage(multiLayout, registry, 'harness/multi:v1'),
  };
}

function assertSameContent(pulled: PulledImage, pushed: PushedImage, expectedManifests: readonly string[]): void {
  assert.equal(pulled.topDigest, pushed.topDigest);
  assert.deepEqual([...pulled.manifests.keys()].sort(), [...expectedManifests].sort());
  for (const [digest, bytes] of pulled.manifests) assert.ok(bytes.equals(pushed.manifests.get(digest) ?? Buffer.alloc(0)), `manifest ${digest}`);
  for (const [digest, bytes] of pulled.blobs) assert.ok(bytes.equals(pushed.blobs.get(digest) ?? Buffer.alloc(0)), `blob ${digest}`);
}

/** Every blob of `expected` was fetched exactly once through the proxy. */
function assertEachBlobFetchedOnce(proxy: CountingProxy, expected: Iterable<string>): void {
  const expectedDigests = [...expected].sort();
  const fetched = proxy.requests.filter((r) => r.method === 'GET' && BLOB_GET.test(r.path)).map((r) => r.path.slice(r.path.lastIndexOf('/') + 1));
  assert.deepEqual(fetched.sort(), expectedDigests);
  assert.equal(proxy.count({ method: 'GET', path: BLOB_GET, status: 200 }), expectedDigests.length);
}

for (const auth of ['none', 'basic', 'token'] satisfies RegistryAuth[]) {
  void test(`harness: push and pull back through the counting proxy, auth=${auth}`, async (t) => {
    const registry = await registryFor(t, { auth });
    const { single, multi } = await pushFixtures(t, registry);
    const proxy = await proxyFor(t, registry.url);
    const creds = credsOf(registry);
    const source = creds ? { creds } : {};

    assert.equal(single.topMediaType, 'application/vnd.oci.image.manifest.v1+json');
    assert.equal(single.blobs.size, 4); // 3 layers + config
    assert.equal(multi.topMediaType, 'application/vnd.oci.image.index.v1+json');
    assert.equal(multi.manifests.size, 3); // index + 2 image manifests
    assert.equal(multi.blobs.size, 6); // 2 x (2 layers + config), distinct per platform

    const pulledSingle = await skopeoCopyFrom(proxy.host, 'harness/single:v1', source);
    t.after(() => pulledSingle.cleanup());
    assertSameContent(pulledSingle, single, [single.topDigest]);
    assert.equal(pulledSingle.blobs.size, 4);
    assertEachBlobFetchedOnce(proxy, single.blobs.keys());

    proxy.reset();
    registry.tokenServer?.reset();
    const pulledMulti = await skopeoCopyFrom(proxy.host, 'harness/multi:v1', { ...source, all: true });
    t.after(() => pulledMulti.cleanup());
    assertSameContent(pulledMulti, multi, [...multi.manifests.keys()]);
    assert.equal(pulledMulti.blobs.size, 6);
    assertEachBlobFetchedOnce(proxy, multi.blobs.keys());
    assert.equal(proxy.count({ method: 'GET', path: '/v2/harness/multi/manifests/v1' }), 1);
    if (registry.tokenServer) {
      // skopeo asks once for the repository scope and reuses the token for every request.
      assert.equal(registry.tokenServer.tokenRequests, 1);
      assert.deepEqual(registry.tokenServer.requests[0]?.scopes, ['repository:harness/multi:pull']);
    }

    // One platform only: skopeo picks the arm64 manifest and fetches just its blobs.
    proxy.reset();
    const arm = await skopeoCopyFrom(proxy.host, 'harness/multi:v1', { ...source, overrideArch: 'arm64', format: 'oci' });
    t.after(() => arm.cleanup());
    const armManifest = multi.platformManifests.get('linux/arm64');
    assert.equal(arm.topDigest, armManifest);
    const armBlobs = [...arm.blobs.keys()];
    assert.equal(armBlobs.length, 3);
    assertEachBlobFetchedOnce(proxy, armBlobs);
    for (const layer of multi.platformLayers.get('linux/arm64') ?? []) assert.ok(arm.blobs.has(layer));

    const raw = await skopeoInspectRaw(proxy.host, 'harness/multi:v1', source);
    assert.equal(sha256Digest(raw), multi.topDigest);

    if (auth !== 'none') {
      await assert.rejects(
        skopeoCopyFrom(proxy.host, 'harness/single:v1', {}),
        /unauthorized|authentication required|401/i,
        'anonymous pull must be refused',
      );
      await assert.rejects(
        skopeoCopyFrom(proxy.host, 'harness/single:v1', { creds: { username: registry.username ?? '', password: 'wrong' } }),
        /unauthorized|authentication required|401|invalid username\/password/i,
      );
    }
  });
}

void test('harness: token server counts every request and signs tokens distribution accepts', async (t) => {
  const registry = await registryFor(t, { auth: 'token' });
  const tokens = registry.tokenServer;
  assert.ok(tokens);
  const layout = await buildImage({ layers: 1, layerSize: 1000, seed: 'token' });
  t.after(() => layout.cleanup());
  await pushImage(layout, registry, 'tok/img:v1');
  tokens.reset();

  // A client that caches its token per scope asks the token server once for many requests.
  const client = new RegistryHttpClient(registry);
  for (let i = 0; i < 5; i += 1) await client.getManifest('tok/img', 'v1');
  assert.equal(tokens.tokenRequests, 1);
  // A fresh client (no cache) costs one more.
  await new RegistryHttpClient(registry).getManifest('tok/img', 'v1');
  assert.equal(tokens.tokenRequests, 2);

  const response = await fetch(`${tokens.realm}?service=${tokens.service}&scope=repository:tok/img:pull,push&scope=repository:other:pull`, {
    headers: { authorization: `Basic ${Buffer.from(`${registry.username ?? ''}:${registry.password ?? ''}`).toString('base64')}` },
  });
  assert.equal(response.status, 200);
  const body = (await response.json()) as { token: string; access_token: string; expires_in: number; issued_at: string };
  assert.equal(body.access_token, body.token);
  assert.equal(body.expires_in, 300);
  assert.ok(!Number.isNaN(Date.parse(body.issued_at)));
  const [headerPart = '', claimsPart = ''] = body.token.split('.');
  const header = JSON.parse(Buffer.from(headerPart, 'base64url').toString('utf8')) as { alg: string; x5c: string[] };
  const claims = JSON.parse(Buffer.from(claimsPart, 'base64url').toString('utf8')) as { iss: string; aud: string; access: unknown };
  assert.equal(header.alg, 'RS256');
  assert.equal(header.x5c.length, 1);
  assert.equal(claims.iss, tokens.issuer);
  assert.equal(claims.aud, tokens.service);
  assert.deepEqual(claims.access, [
    { type: 'repository', name: 'tok/img', actions: ['pull', 'push'] },
    { type: 'repository', name: 'other', actions: ['pull'] },
  ]);
  assert.equal(tokens.tokenRequests, 3);

  const direct = await fetch(`${registry.url}/v2/tok/img/manifests/v1`, {
    headers: { authorization: `Bearer ${body.token}`, accept: 'application/vnd.oci.image.manifest.v1+json' },
  });
  assert.equal(direct.status, 200);
  assert.equal(sha256Digest(Buffer.from(await direct.arrayBuffer())), layout.topDigest);

  // Wrong password and missing credentials are refused (and still counted).
  const wrong = await fetch(`${tokens.realm}?service=${tokens.service}&scope=repository:tok/img:pull`, {
    headers: { authorization: `Basic ${Buffer.from(`${registry.username ?? ''}:nope`).toString('base64')}` },
  });
  assert.equal(wrong.status, 401);
  const anonymous = await fetch(`${tokens.realm}?service=${tokens.service}&scope=repository:tok/img:pull`);
  assert.equal(anonymous.status, 401);
  assert.equal(tokens.tokenRequests, 5);

  // OAuth2 password grant (what containerd tries first when it has credentials).
  const oauth = await fetch(tokens.realm, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'password', service: tokens.service, client_id: 'harness', scope: 'repository:tok/img:pull',
      username: registry.username ?? '', password: registry.password ?? '',
    }).toString(),
  });
  assert.equal(oauth.status, 200);
  const oauthBody = (await oauth.json()) as { access_token: string };
  const viaOauth = await fetch(`${registry.url}/v2/tok/img/manifests/v1`, {
    method: 'HEAD',
    headers: { authorization: `Bearer ${oauthBody.access_token}`, accept: 'application/vnd.oci.image.manifest.v1+json' },
  });
  assert.equal(viaOauth.status, 200);

  // A token for another repository does not open this one.
  const otherToken = await fetch(`${tokens.realm}?service=${tokens.service}&scope=repository:other:pull`, {
    headers: { authorization: `Basic ${Buffer.from(`${registry.username ?? ''}:${registry.password ?? ''}`).toString('base64')}` },
  });
  const otherBody = (await otherToken.json()) as { token: string };
  const denied = await fetch(`${registry.url}/v2/tok/img/manifests/v1`, { headers: { authorization: `Bearer ${otherBody.token}` } });
  assert.equal(denied.status, 401);
  await denied.body?.cancel();
});

void test('harness: token registry with anonymous pull allows pulling, not pushing', async (t) => {
  const registry = await registryFor(t, { auth: 'token', anonymousPull: true });
  const layout = await buildImage({ layers: 2, layerSize: 5000, seed: 'anon' });
  t.after(() => layout.cleanup());
  const pushed = await pushImage(layout, registry, 'anon/img:v1');
  const pulled = await skopeoCopyFrom(registry.host, 'anon/img:v1');
  t.after(() => pulled.cleanup());
  assertSameContent(pulled, pushed, [pushed.topDigest]);
  const anonymousRecords = registry.tokenServer?.requests.filter((r) => r.account === undefined) ?? [];
  assert.ok(anonymousRecords.length >= 1);
  for (const record of anonymousRecords) for (const entry of record.granted) assert.deepEqual(entry.actions, ['pull']);
  await assert.rejects(
    pushImage(layout, { url: registry.url, host: registry.host }, 'anon/img:v2'),
    /unauthorized|authentication required|denied|401/i,
  );
});

void test('harness: counting proxy injects every fault kind', async (t) => {
  const registry = await registryFor(t, { auth: 'none' });
  const layout = await buildImage({ layers: 1, layerSize: 100_000, seed: 'faults' });
  t.after(() => layout.cleanup());
  const pushed = await pushImage(layout, registry, 'fault/img:v1');
  const proxy = await proxyFor(t, registry.url);
  const [layerDigest, layerBytes] = [...pushed.blobs].find(([, bytes]) => bytes.length > 10_000) ?? [];
  assert.ok(layerDigest !== undefined && layerBytes !== undefined);
  const blobUrl = `${proxy.url}/v2/fault/img/blobs/${layerDigest}`;
  const manifestUrl = `${proxy.url}/v2/fault/img/manifests/v1`;
  const manifestInit = { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } };

  // No fault: a faithful pass-through.
  const clean = await fetch(blobUrl);
  assert.equal(clean.status, 200);
  assert.equal(clean.headers.get('docker-content-digest'), layerDigest);
  assert.ok(Buffer.from(await clean.arrayBuffer()).equals(layerBytes));

  // status, only for blob paths: manifests still pass.
  proxy.setFault({ kind: 'status', status: 503, path: /\/blobs\// });
  const unavailable = await fetch(blobUrl);
  assert.equal(unavailable.status, 503);
  assert.match(await unavailable.text(), /UNAVAILABLE/);
  const manifest = await fetch(manifestUrl, manifestInit);
  assert.equal(manifest.status, 200);
  assert.equal(sha256Digest(Buffer.from(await manifest.arrayBuffer())), pushed.topDigest);

  // times: 1 -> the next matching request fails, the one after succeeds.
  proxy.setFault({ kind: 'status', status: 500, times: 1 });
  assert.equal((await fetch(blobUrl, { method: 'HEAD' })).status, 500);
  assert.equal((await fetch(blobUrl, { method: 'HEAD' })).status, 200);

  // reset: the connection dies before any answer.
  proxy.setFault({ kind: 'reset' });
  await assert.rejects(fetch(blobUrl), TypeError);

  // hang: accepted, never answered; the client's own deadline ends it.
  proxy.setFault({ kind: 'hang' });
  const started = Date.now();
  await assert.rejects(fetch(blobUrl, { signal: AbortSignal.timeout(300) }), { name: 'TimeoutError' });
  assert.ok(Date.now() - started < 5000);

  // truncate: real headers (full Content-Length), body cut at 40%, then the socket dies.
  proxy.setFault({ kind: 'truncate', fraction: 0.4 });
  const truncated = await fetch(blobUrl);
  assert.equal(truncated.status, 200);
  assert.equal(Number(truncated.headers.get('content-length')), layerBytes.length);
  let received = 0;
  const reader = truncated.body?.getReader();
  assert.ok(reader);
  await assert.rejects(async () => {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      received += value.length;
    }
  });
  assert.equal(received, Math.floor(layerBytes.length * 0.4));

  // corrupt: same length, every byte flipped, so the digest no longer matches.
  proxy.setFault({ kind: 'corrupt' });
  const corrupted = Buffer.from(await (await fetch(blobUrl)).arrayBuffer());
  assert.equal(corrupted.length, layerBytes.length);
  assert.notEqual(sha256Digest(corrupted), layerDigest);
  assert.equal(corrupted[0], (layerBytes[0] ?? 0) ^ 0xff);

  // Off again.
  proxy.setFault(null);
  assert.ok(Buffer.from(await (await fetch(blobUrl)).arrayBuffer()).equals(layerBytes));

  // What was recorded, fault by fault.
  const faults = proxy.requests.map((r) => `${r.method} ${r.fault ?? '-'} ${r.status}`);
  assert.deepEqual(faults, [
    'GET - 200', 'GET status 503', 'GET - 200', 'HEAD status 500', 'HEAD - 200', 'GET reset 0',
    'GET hang 0', 'GET truncate 200', 'GET corrupt 200', 'GET - 200',
  ]);
  assert.equal(proxy.faultsInjected, 6);
  assert.equal(proxy.count({ path: BLOB_GET }), 9);

  // close() ends a hanging request from the server side: no client deadline needed.
  proxy.setFault({ kind: 'hang' });
  const hanging = fetch(blobUrl);
  await proxy.waitFor({ path: BLOB_GET }, { atLeast: 10 });
  await proxy.close();
  await assert.rejects(hanging, TypeError);
});

void test('harness: child processes are waited on with deadlines and stopped by pid', async () => {
  // A process that exits early makes waitForHttp fail fast with its output.
  const port = await getFreePort();
  const dying = startProcess('sh', ['-c', 'echo boom >&2; exit 3'], { name: 'dying' });
  await assert.rejects(
    waitForHttp(`http://127.0.0.1:${port}/`, { deadlineMs: 10_000, process: dying }),
    /process exited before it was ready[\s\S]*boom/,
  );

  // A process that ignores SIGTERM is SIGKILLed once the deadline passes; stop() is idempotent.
  const stubborn = startProcess('sh', ['-c', 'trap "" TERM; echo ready; exec sleep 30'], { name: 'stubborn' });
  await stubborn.waitForOutput(/ready/, { deadlineMs: 5000 });
  const first = stubborn.stop({ deadlineMs: 300 });
  const second = stubborn.stop({ deadlineMs: 300 });
  assert.equal(first, second);
  const exit = await first;
  assert.equal(exit.signal, 'SIGKILL');
  assert.deepEqual(await stubborn.stop(), exit);

  // A bounded wait on nothing times out with a clear message.
  await assert.rejects(waitForHttp(`http://127.0.0.1:${port}/`, { deadlineMs: 200 }), /not ready within 200 ms/);
});

void test('harness: nothing left running', () => {
  assert.deepEqual(liveProcesses().map((p) => p.name), []);
});
