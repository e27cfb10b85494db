import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { mirrorOverLoopback } from './support/mirror-over-loopback.js';
import { rawRequest } from './support/raw-http.js';

const ZERO = `sha256:${'0'.repeat(64)}`;

describe('bad input gets the right status and exact OCI error JSON', () => {
  const fixture = mirrorOverLoopback();
  const { upstream } = fixture;

  const cases: Array<{ name: string; path: string; method?: string; headers?: Record<string, string>; status: number; body: object }> = [
    {
      name: 'malformed digest',
      path: '/v2/app/blobs/sha256:abc',
      status: 400,
      body: { errors: [{ code: 'DIGEST_INVALID', message: 'invalid sha256 digest: sha256:abc' }] },
    },
    {
      name: 'unsupported digest algorithm',
      path: `/v2/app/blobs/md5:${'a'.repeat(32)}`,
      status: 405,
      body: { errors: [{ code: 'UNSUPPORTED', message: 'unsupported digest algorithm: md5' }] },
    },
    {
      name: 'path traversal with dot segments',
      path: '/v2/app/../../etc/manifests/latest',
      status: 400,
      body: { errors: [{ code: 'NAME_INVALID', message: 'empty or dot path segments are not allowed' }] },
    },
    {
      name: 'percent-encoded traversal',
      path: '/v2/app/%2e%2e/manifests/latest',
      status: 400,
      body: { errors: [{ code: 'NAME_INVALID', message: 'encoded characters are not allowed in names' }] },
    },
    {
      name: 'upper-case repository name',
      path: '/v2/App/manifests/latest',
      status: 400,
      body: { errors: [{ code: 'NAME_INVALID', message: 'invalid repository name: App' }] },
    },
    {
      name: 'a tag no manifest can have is unknown, as the spec pull workflow expects',
      path: '/v2/app/manifests/.INVALID_MANIFEST_NAME',
      status: 404,
      body: { errors: [{ code: 'MANIFEST_UNKNOWN', message: 'manifest unknown: .INVALID_MANIFEST_NAME is not a valid tag', detail: { reference: '.INVALID_MANIFEST_NAME' } }] },
    },
    {
      name: 'oversized path',
      path: `/v2/${'a'.repeat(3000)}/manifests/latest`,
      status: 400,
      body: { errors: [{ code: 'PATH_INVALID', message: 'path longer than 2048 bytes' }] },
    },
    {
      name: 'unknown namespace',
      path: '/v2/app/manifests/latest?ns=quay.io',
      status: 404,
      body: { errors: [{ code: 'NAME_UNKNOWN', message: 'registry quay.io is not mirrored here', detail: { registry: 'quay.io' } }] },
    },
    {
      name: 'unknown registry host in a Podman-style path',
      path: '/v2/localhost:5999/app/manifests/latest',
      status: 404,
      body: { errors: [{ code: 'NAME_UNKNOWN', message: 'registry localhost:5999 is not mirrored here', detail: { registry: 'localhost:5999' } }] },
    },
    {
      name: 'push is refused',
      path: '/v2/app/blobs/uploads/',
      method: 'POST',
      status: 405,
      body: { errors: [{ code: 'UNSUPPORTED', message: 'POST is not supported: EdgePier is a pull-only mirror' }] },
    },
    {
      name: 'unknown endpoint',
      path: '/v2/app/things/list',
      status: 405,
      body: { errors: [{ code: 'UNSUPPORTED', message: 'unsupported endpoint: things' }] },
    },
    {
      name: 'blob unknown upstream',
      path: `/v2/app/blobs/${ZERO}`,
      status: 404,
      body: { errors: [{ code: 'BLOB_UNKNOWN', message: 'blob not found at upstream upstream.test', detail: { upstream: 'upstream.test', status: 404 } }] },
    },
  ];

  for (const testCase of cases) {
    test(testCase.name, async () => {
      const before = upstream.requests.length;
      const response = await rawRequest(fixture.mirror.url, testCase.path, {
        ...(testCase.method ? { method: testCase.method } : {}),
        ...(testCase.headers ? { headers: testCase.headers } : {}),
      });
      assert.equal(response.status, testCase.status);
      assert.match(String(response.headers['content-type']), /^application\/json/);
      assert.deepEqual(JSON.parse(response.body), testCase.body);
      if (testCase.status === 400) assert.equal(upstream.requests.length, before, 'invalid input never reaches upstream');
    });
  }

  test('oversized headers are a 431 with OCI JSON, and the server keeps serving', async () => {
    const response = await rawRequest(fixture.mirror.url, '/v2/', { headers: { 'x-filler': 'x'.repeat(20_000) } });
    assert.equal(response.status, 431);
    assert.deepEqual(JSON.parse(response.body), {
      errors: [{ code: 'HEADER_INVALID', message: 'request headers larger than 16384 bytes' }],
    });
    const base = await rawRequest(fixture.mirror.url, '/v2/');
    assert.equal(base.status, 200);
    assert.equal(base.headers['docker-distribution-api-version'], 'registry/2.0');
  });

  test('a Range on a cached blob that cannot be satisfied is 416 with Content-Range', async () => {
    const digest = upstream.addBlob(Buffer.from('0123456789'));
    const ok = await rawRequest(fixture.mirror.url, `/v2/app/blobs/${digest}`);
    assert.equal(ok.body, '0123456789');
    const response = await rawRequest(fixture.mirror.url, `/v2/app/blobs/${digest}`, { headers: { range: 'bytes=20-30' } });
    assert.equal(response.status, 416);
    assert.equal(response.headers['content-range'], 'bytes */10');
    assert.deepEqual(JSON.parse(response.body), {
      errors: [{ code: 'RANGE_INVALID', message: 'range not satisfiable: bytes=20-30', detail: { size: 10 } }],
    });
  });
});
