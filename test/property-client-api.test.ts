// Property-based test of the client API as a whole: arbitrary paths, Range, Accept and peer
// headers sent over real HTTP to a mirror in front of a loopback registry. Whatever is asked,
// the answer is a success or OCI error JSON, never a 500 (the status of an unexpected throw),
// and a 206 holds exactly the bytes its Content-Range names.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { mirrorOverLoopback } from './support/mirror-over-loopback.js';
import { propertyParameters } from './support/property.js';
import { rawRequest } from './support/raw-http.js';

void describe('client API under arbitrary requests (property)', () => {
  const fixture = mirrorOverLoopback();
  const { upstream } = fixture;
  const layer = randomBytes(4096);
  const layerDigest = upstream.addBlob(layer);
  upstream.addManifest('app', 'v1', { schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', layers: [{ digest: layerDigest, size: layer.length }] });

  // Node's client refuses to send control characters and spaces in a path: printable ASCII only.
  const printable = fc.string({ unit: fc.integer({ min: 0x21, max: 0x7e }).map((code) => String.fromCharCode(code)), maxLength: 40 });
  const path = fc.oneof(
    fc.constant(null).map(() => `/v2/app/blobs/${layerDigest}`),
    fc.stringMatching(/^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,20}$/).map((tag) => `/v2/app/manifests/${tag}`),
    fc.array(fc.constantFrom('/v2/', '/v2', 'app', '/', 'blobs/', 'manifests/', 'tags/list', 'referrers/', 'v1', 'sha256:', '0'.repeat(64), '..', '.', '%2e', '%2F', '\\', '?n=', '?last=', '&n=-1', '?n=99999999999', 'docker.io/', 'localhost:5000/'), { maxLength: 12 }).map((parts) => `/${parts.join('')}`),
    printable.map((text) => `/v2/${text}`),
  );
  const range = fc.option(fc.oneof(printable, fc.array(fc.constantFrom('bytes=', '0', '1', '-', ',', '4095', '4096', '99999999999999999999', ' ', 'items='), { maxLength: 8 }).map((parts) => parts.join('')), fc.tuple(fc.nat(5000), fc.nat(5000)).map(([a, b]) => `bytes=${a}-${b}`)), { nil: undefined });
  const accept = fc.option(fc.oneof(printable, fc.constantFrom('application/vnd.oci.image.index.v1+json', '*/*', 'application/vnd.docker.distribution.manifest.v2+json')), { nil: undefined });
  const peer = fc.option(printable, { nil: undefined });

  void it('answers success or OCI error JSON, never 500, and a 206 with the bytes it names', async () => {
    const seen = new Set<number>();
    await fc.assert(
      fc.asyncProperty(path, range, accept, peer, fc.constantFrom('GET', 'HEAD'), async (target, rangeHeader, acceptHeader, peerHeader, method) => {
        const headers: Record<string, string> = {
          ...(rangeHeader !== undefined ? { range: rangeHeader } : {}),
          ...(acceptHeader !== undefined ? { accept: acceptHeader } : {}),
          ...(peerHeader !== undefined ? { 'x-edgepier-peer': peerHeader } : {}),
        };
        const response = await rawRequest(fixture.mirror.url, target, { method, headers });
        seen.add(response.status);
        const where = `${method} ${target} ${JSON.stringify(headers)} → ${response.status} ${response.body.slice(0, 200)}`;
        assert.notEqual(response.status, 500, where);
        assert.ok(response.status >= 200 && response.status < 600, where);
        if (response.status >= 400 && method === 'GET') {
          const body = JSON.parse(response.body) as { errors?: Array<{ code?: unknown; message?: unknown }> };
          assert.ok(typeof body.errors?.[0]?.code === 'string' && typeof body.errors[0].message === 'string', where);
        }
        if (response.status === 206 && method === 'GET') {
          const match = /^bytes (\d+)-(\d+)\/4096$/.exec(String(response.headers['content-range']));
          assert.ok(match, where);
          assert.equal(response.body, layer.subarray(Number(match[1]), Number(match[2]) + 1).toString('utf8'), where);
        }
      }),
      propertyParameters(300),
    );
    // The generators must reach the interesting answers, or the property proves little.
    for (const status of [200, 206, 400, 404, 416]) assert.ok(seen.has(status), `no request got ${status}: ${[...seen].join(', ')}`);
  });
});
