// The OCI distribution spec's error-code table, row by row, against a real distribution 2.8
// upstream: every code EdgePier can produce, with its status and exact JSON. The push-side
// rows (BLOB_UPLOAD_INVALID, BLOB_UPLOAD_UNKNOWN, MANIFEST_BLOB_UNKNOWN, MANIFEST_INVALID,
// SIZE_INVALID) cannot arise on a pull-only mirror: every push request is UNSUPPORTED before
// any of them could apply, which the last test shows. UNAUTHORIZED is not produced either: the
// client API does not authenticate its clients, and credentials upstream refuses are the
// node's own, which the client cannot fix by authenticating, so that is DENIED (403).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startLoopbackRegistry } from './support/loopback-registry.js';
import { startMirror, type MirrorUnderTest } from './support/mirror-under-test.js';
import { OCI_MANIFEST_TYPE } from './support/oci-media-types.js';
import { pushBlob, pushManifest } from './support/oci-push.js';
import { startRegistry, type RunningRegistry } from './support/registry-process.js';

const ZERO = `sha256:${'0'.repeat(64)}`;

async function errorOf(mirror: MirrorUnderTest, path: string, init: RequestInit = {}): Promise<{ status: number; type: string | null; body: unknown }> {
  const response = await fetch(`${mirror.url}${path}`, { ...init, signal: AbortSignal.timeout(15_000) });
  return { status: response.status, type: response.headers.get('content-type'), body: await response.json() };
}

function only(code: string, message: string, detail?: unknown): unknown {
  return { errors: [{ code, message, ...(detail === undefined ? {} : { detail }) }] };
}

describe('OCI error-code table, real upstream', () => {
  let registry: RunningRegistry;
  let mirror: MirrorUnderTest;
  before(async () => {
    registry = await startRegistry();
    const config = Buffer.from('{}');
    const digest = await pushBlob(registry.url, 'app', config);
    const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST_TYPE, config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest, size: 2 }, layers: [] }));
    await pushManifest(registry.url, 'app', 'v1', manifest, OCI_MANIFEST_TYPE);
    mirror = await startMirror({ upstreams: [{ registry: 'upstream.test', url: registry.url }] });
  });
  after(async () => {
    await mirror.close();
    await registry.stop();
  });

  test('BLOB_UNKNOWN: 404 for a blob upstream does not have', async () => {
    assert.deepEqual(await errorOf(mirror, `/v2/app/blobs/${ZERO}`), {
      status: 404,
      type: 'application/json; charset=utf-8',
      body: only('BLOB_UNKNOWN', 'blob not found at upstream upstream.test', { upstream: 'upstream.test', status: 404 }),
    });
  });

  test('DIGEST_INVALID: 400 for a malformed digest, before upstream is asked', async () => {
    assert.deepEqual((await errorOf(mirror, '/v2/app/blobs/sha256:abc')).body, only('DIGEST_INVALID', 'invalid sha256 digest: sha256:abc'));
    assert.equal((await errorOf(mirror, '/v2/app/manifests/sha256:abc')).status, 400);
  });

  test('MANIFEST_UNKNOWN: 404 for an unknown tag, and for a reference no manifest can have', async () => {
    assert.deepEqual(await errorOf(mirror, '/v2/app/manifests/v9'), {
      status: 404,
      type: 'application/json; charset=utf-8',
      body: only('MANIFEST_UNKNOWN', 'manifest not found at upstream upstream.test', { upstream: 'upstream.test', status: 404 }),
    });
    const invalid = await errorOf(mirror, '/v2/app/manifests/.INVALID_MANIFEST_NAME');
    assert.equal(invalid.status, 404);
    assert.deepEqual(invalid.body, only('MANIFEST_UNKNOWN', 'manifest unknown: .INVALID_MANIFEST_NAME is not a valid tag', { reference: '.INVALID_MANIFEST_NAME' }));
  });

  test('NAME_INVALID: 400 for a repository name outside the grammar', async () => {
    assert.deepEqual(await errorOf(mirror, '/v2/App/manifests/v1'), {
      status: 400,
      type: 'application/json; charset=utf-8',
      body: only('NAME_INVALID', 'invalid repository name: App'),
    });
  });

  test('NAME_UNKNOWN: 404 for a repository upstream does not know (tag list) and for a registry not mirrored', async () => {
    assert.deepEqual(await errorOf(mirror, '/v2/nothing/tags/list'), {
      status: 404,
      type: 'application/json; charset=utf-8',
      body: only('NAME_UNKNOWN', 'repository not found at upstream upstream.test', { upstream: 'upstream.test', status: 404 }),
    });
    assert.deepEqual((await errorOf(mirror, '/v2/app/tags/list?ns=quay.io')).body, only('NAME_UNKNOWN', 'registry quay.io is not mirrored here', { registry: 'quay.io' }));
  });

  test('UNSUPPORTED: 405 for every push request, so no push-side code can arise', async () => {
    const pushes: Array<[string, string]> = [
      ['POST', '/v2/app/blobs/uploads/'],
      ['PATCH', '/v2/app/blobs/uploads/0a1b'],
      ['PUT', `/v2/app/blobs/uploads/0a1b?digest=${ZERO}`],
      ['PUT', '/v2/app/manifests/v1'],
      ['DELETE', '/v2/app/manifests/v1'],
    ];
    for (const [method, path] of pushes) {
      const answer = await errorOf(mirror, path, { method, ...(method === 'PUT' || method === 'PATCH' ? { body: '{}' } : {}) });
      assert.equal(answer.status, 405, `${method} ${path}`);
      assert.deepEqual(answer.body, only('UNSUPPORTED', `${method} is not supported: EdgePier is a pull-only mirror`));
    }
    assert.deepEqual((await errorOf(mirror, `/v2/app/blobs/md5:${'0'.repeat(32)}`)).body, only('UNSUPPORTED', 'unsupported digest algorithm: md5'));
  });
});

describe('OCI error-code table, upstream answers the mirror relays', () => {
  test('DENIED: 403 when upstream refuses the credentials configured for it (real htpasswd registry)', async (t) => {
    const registry = await startRegistry({ auth: 'basic' });
    t.after(() => registry.stop());
    const mirror = await startMirror({ upstreams: [{ registry: 'upstream.test', url: registry.url, credentials: { username: 'edgepier', password: 'wrong' } }] });
    t.after(() => mirror.close());
    assert.deepEqual(await errorOf(mirror, '/v2/app/manifests/v1'), {
      status: 403,
      type: 'application/json; charset=utf-8',
      body: only('DENIED', 'upstream upstream.test refused access (HTTP 401); check the credentials configured for it', { upstream: 'upstream.test', status: 401 }),
    });
  });

  test('TOOMANYREQUESTS: 429 when upstream rate-limits, not retried', async (t) => {
    const upstream = await startLoopbackRegistry(t);
    const digest = upstream.addBlob(Buffer.from('rate limited'));
    upstream.setBehaviour(digest, { kind: 'status', status: 429 });
    const mirror = await startMirror({ upstreams: [{ registry: 'upstream.test', url: upstream.url }] });
    t.after(() => mirror.close());
    assert.deepEqual(await errorOf(mirror, `/v2/app/blobs/${digest}`), {
      status: 429,
      type: 'application/json; charset=utf-8',
      body: only('TOOMANYREQUESTS', 'upstream upstream.test is rate limiting (HTTP 429); retry later', { upstream: 'upstream.test', status: 429 }),
    });
    assert.equal(upstream.blobGets(digest), 1);
  });
});
