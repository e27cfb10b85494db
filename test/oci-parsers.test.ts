import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { resolveRange } from '../oci/byte-range.js';
import { parseDigest } from '../oci/digest.js';
import { RegistryError } from '../oci/registry-error.js';
import { parseRequestPath } from '../oci/parse-request-path.js';
import { ociErrorHeaders, ociErrorStatus } from '../server/oci-error-response.js';

const HEX = 'a'.repeat(64);

function codeOf(action: () => unknown): string {
  try {
    action();
  } catch (error) {
    assert.ok(error instanceof RegistryError, `expected RegistryError, got ${String(error)}`);
    return error.code;
  }
  assert.fail('expected a throw');
}

describe('parseDigest', () => {
  test('accepts sha256 and sha512', () => {
    assert.equal(parseDigest(`sha256:${HEX}`).value, `sha256:${HEX}`);
    assert.equal(parseDigest(`sha512:${'b'.repeat(128)}`).algorithm, 'sha512');
  });
  test('rejects malformed digests as DIGEST_INVALID and unknown algorithms as UNSUPPORTED', () => {
    assert.equal(codeOf(() => parseDigest('sha256:abc')), 'DIGEST_INVALID');
    assert.equal(codeOf(() => parseDigest(`sha256:${'A'.repeat(64)}`)), 'DIGEST_INVALID');
    assert.equal(codeOf(() => parseDigest('nocolon')), 'DIGEST_INVALID');
    assert.equal(codeOf(() => parseDigest(`md5:${'a'.repeat(32)}`)), 'UNSUPPORTED');
  });
});

describe('parseRequestPath', () => {
  test('base, manifests by tag and digest, blobs, nested names', () => {
    assert.deepEqual(parseRequestPath('/v2/'), { kind: 'base' });
    const byTag = parseRequestPath('/v2/library/alpine/manifests/3.20');
    assert.equal(byTag.kind, 'manifest');
    assert.ok(byTag.kind === 'manifest' && byTag.reference.kind === 'tag' && byTag.reference.tag === '3.20');
    const blob = parseRequestPath(`/v2/ghcr.io/org/team/app/blobs/sha256:${HEX}`);
    assert.ok(blob.kind === 'blob' && blob.name === 'ghcr.io/org/team/app');
    const byDigest = parseRequestPath(`/v2/a/manifests/sha256:${HEX}`);
    assert.ok(byDigest.kind === 'manifest' && byDigest.reference.kind === 'digest');
  });
  test('refuses traversal, encoding, bad tags and unknown endpoints with the right codes', () => {
    assert.equal(codeOf(() => parseRequestPath('/v2/../etc/manifests/latest')), 'NAME_INVALID');
    assert.equal(codeOf(() => parseRequestPath('/v2/a/%2e%2e/manifests/latest')), 'NAME_INVALID');
    assert.equal(codeOf(() => parseRequestPath('/v2/a//b/manifests/latest')), 'NAME_INVALID');
    assert.equal(codeOf(() => parseRequestPath('/v2/a/manifests/-bad')), 'MANIFEST_UNKNOWN');
    assert.equal(codeOf(() => parseRequestPath(`/v2/a/manifests/${'t'.repeat(129)}`)), 'MANIFEST_UNKNOWN');
    assert.equal(codeOf(() => parseRequestPath('/v2/a/blobs/sha256:zz')), 'DIGEST_INVALID');
    assert.equal(codeOf(() => parseRequestPath('/v2/a/things/list')), 'UNSUPPORTED');
    assert.equal(codeOf(() => parseRequestPath('/v2/a/referrers/latest')), 'DIGEST_INVALID');
    const tags = parseRequestPath('/v2/org/app/tags/list');
    assert.ok(tags.kind === 'tags' && tags.name === 'org/app');
    const referrers = parseRequestPath(`/v2/org/app/referrers/sha256:${HEX}`);
    assert.ok(referrers.kind === 'referrers' && referrers.name === 'org/app' && referrers.digest.hex === HEX);
    assert.equal(codeOf(() => parseRequestPath(`/v2/${'a/'.repeat(1100)}manifests/x`)), 'PATH_INVALID');
  });
});

describe('resolveRange', () => {
  test('single ranges, open ends and suffixes', () => {
    assert.equal(resolveRange(undefined, 100), undefined);
    assert.deepEqual(resolveRange('bytes=0-9', 100), { start: 0, end: 9 });
    assert.deepEqual(resolveRange('bytes=90-', 100), { start: 90, end: 99 });
    assert.deepEqual(resolveRange('bytes=95-500', 100), { start: 95, end: 99 });
    assert.deepEqual(resolveRange('bytes=-10', 100), { start: 90, end: 99 });
    assert.equal(resolveRange('bytes=0-1,5-6', 100), undefined);
  });
  test('malformed and unsatisfiable ranges are RANGE_INVALID with Content-Range', () => {
    for (const header of ['bytes=100-', 'bytes=5-2', 'bytes=abc', 'items=0-1', 'bytes=-', 'bytes=-0']) {
      try {
        resolveRange(header, 100);
        assert.fail(`accepted ${header}`);
      } catch (error) {
        assert.ok(error instanceof RegistryError);
        assert.equal(error.code, 'RANGE_INVALID');
        assert.equal(ociErrorStatus(error), 416);
        assert.equal(ociErrorHeaders(error)['Content-Range'], 'bytes */100');
      }
    }
  });
});
