// Property-based tests of the OCI protocol parsers that read request paths and headers from
// the network: whatever the text, only an RegistryError escapes, and what parses means what it says.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { resolveRange } from '../oci/byte-range.js';
import { parseDigest } from '../oci/digest.js';
import { RegistryError, type RegistryErrorCode } from '../oci/registry-error.js';
import { MAX_PATH_LENGTH, parseRequestPath } from '../oci/parse-request-path.js';
import { assertRepositoryName, assertTag, isRegistryHost, isTag, MAX_NAME_LENGTH } from '../oci/repository-name.js';
import { ociErrorHeaders } from '../server/oci-error-response.js';
import { check, domainOutcome, textFrom } from './support/property.js';

const HEX = '0123456789abcdef'.split('');

function ociError(...codes: RegistryErrorCode[]): (error: unknown) => boolean {
  return (error) => error instanceof RegistryError && codes.includes(error.code);
}

const hex = (length: number): fc.Arbitrary<string> => fc.array(fc.constantFrom(...HEX), { minLength: length, maxLength: length }).map((chars) => chars.join(''));
const validDigest = fc.oneof(hex(64).map((h) => `sha256:${h}`), hex(128).map((h) => `sha512:${h}`));
const digestish = fc.oneof(validDigest, textFrom(['sha256', 'sha512', 'md5', ':', 'a', 'F', '0', '+', '.', '-', '_', '=', 'ab12'], 140));
const component = fc.stringMatching(/^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$/).filter((text) => text.length <= 30);
const validName = fc.array(component, { minLength: 1, maxLength: 4 }).map((parts) => parts.join('/')).filter((name) => name.length <= MAX_NAME_LENGTH);
const validTag = fc.stringMatching(/^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/);
const pathish = fc.oneof(
  textFrom(['/v2/', '/', 'library', 'app', 'blobs', 'manifests', 'tags', 'list', 'referrers', 'sha256:', 'a'.repeat(64), '..', '.', '%2e', '\\', ':', 'latest', '?', '#'], 30),
  fc.string({ unit: 'binary', maxLength: MAX_PATH_LENGTH + 20 }).map((text) => `/v2/${text}`),
);

void describe('parseDigest (property)', () => {
  void it('throws nothing but DIGEST_INVALID or UNSUPPORTED, and a digest that parses re-serialises to itself', () => {
    check(
      fc.property(digestish, (text) => {
        const outcome = domainOutcome(() => parseDigest(text), ociError('DIGEST_INVALID', 'UNSUPPORTED'));
        if ('value' in outcome) {
          assert.equal(outcome.value.value, text);
          assert.equal(`${outcome.value.algorithm}:${outcome.value.hex}`, text);
        }
      }),
    );
  });

  void it('accepts every well-formed sha256 and sha512 digest', () => {
    check(fc.property(validDigest, (text) => assert.equal(parseDigest(text).value, text)));
  });
});

void describe('repository names and tags (property)', () => {
  void it('assertRepositoryName throws only NAME_INVALID, and accepts every name of the grammar', () => {
    check(
      fc.property(textFrom(['a', 'z', '0', '/', '.', '_', '__', '-', 'A', ' ', '..', '//'], 60), (text) => {
        const outcome = domainOutcome(() => assertRepositoryName(text), ociError('NAME_INVALID'));
        if ('value' in outcome) {
          assert.ok(text.length > 0 && text.length <= MAX_NAME_LENGTH);
          assert.ok(!text.split('/').includes('..') && !text.includes('//'));
        }
      }),
    );
    check(fc.property(validName, (name) => assert.doesNotThrow(() => assertRepositoryName(name))));
  });

  void it('assertTag agrees with isTag and throws only NAME_INVALID; isRegistryHost never throws', () => {
    check(
      fc.property(fc.oneof(validTag, textFrom(['a', 'Z', '0', '_', '.', '-', ':', '/', '@'], 140)), (text) => {
        const outcome = domainOutcome(() => assertTag(text), ociError('NAME_INVALID'));
        assert.equal('value' in outcome, isTag(text));
        assert.equal(typeof isRegistryHost(text), 'boolean');
      }),
    );
  });
});

void describe('parseRequestPath (property)', () => {
  void it('throws nothing but an RegistryError, and never lets a traversal or encoded segment through', () => {
    check(
      fc.property(pathish, (path) => {
        const outcome = domainOutcome(() => parseRequestPath(path), ociError('PATH_INVALID', 'NAME_INVALID', 'DIGEST_INVALID', 'UNSUPPORTED', 'MANIFEST_UNKNOWN'));
        if (!('value' in outcome) || outcome.value.kind === 'base') return;
        const { name } = outcome.value;
        assert.ok(name.length > 0);
        assert.ok(!name.split('/').some((segment) => segment === '' || segment === '.' || segment === '..'), name);
        assert.ok(!name.includes('%') && !name.includes('\\'), name);
      }),
    );
  });

  void it('reads back exactly the name, tag or digest a well-formed path was built from', () => {
    check(
      fc.property(validName, fc.oneof(validTag.map((tag) => ({ tag })), validDigest.map((digest) => ({ digest }))), (name, reference) => {
        const manifest = parseRequestPath(`/v2/${name}/manifests/${'tag' in reference ? reference.tag : reference.digest}`);
        assert.equal(manifest.kind, 'manifest');
        if (manifest.kind !== 'manifest') return;
        assert.equal(manifest.name, name);
        if ('tag' in reference) assert.deepEqual(manifest.reference, { kind: 'tag', tag: reference.tag });
        else assert.equal(manifest.reference.kind === 'digest' ? manifest.reference.digest.value : '', reference.digest);
        if ('digest' in reference) {
          const blob = parseRequestPath(`/v2/${name}/blobs/${reference.digest}`);
          assert.deepEqual(blob.kind === 'blob' ? [blob.name, blob.digest.value] : [], [name, reference.digest]);
        }
        assert.deepEqual(parseRequestPath(`/v2/${name}/tags/list`), { kind: 'tags', name });
      }),
    );
  });
});

void describe('resolveRange (property)', () => {
  const size = fc.oneof(fc.integer({ min: 0, max: 4096 }), fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }));
  const number = fc.oneof(fc.integer({ min: 0, max: 5000 }).map(String), fc.bigInt({ min: 0n, max: 10n ** 30n }).map(String), fc.constant(''));
  const header = fc.oneof(
    fc.tuple(number, number).map(([first, last]) => `bytes=${first}-${last}`),
    textFrom(['bytes', '=', '-', ',', ' ', '0', '1', '9', '99999999999999999999', 'items', '*', '/'], 12),
    fc.constant(undefined),
  );

  void it('answers the whole blob, a range inside the blob, or RANGE_INVALID with bytes */size', () => {
    check(
      fc.property(header, size, (text, blobSize) => {
        const outcome = domainOutcome(() => resolveRange(text, blobSize), ociError('RANGE_INVALID'));
        if ('error' in outcome) {
          assert.equal(ociErrorHeaders(outcome.error as RegistryError)['Content-Range'], `bytes */${blobSize}`);
          return;
        }
        const range = outcome.value;
        if (range === undefined) return;
        assert.ok(Number.isSafeInteger(range.start) && Number.isSafeInteger(range.end), JSON.stringify(range));
        assert.ok(range.start >= 0 && range.start <= range.end && range.end < blobSize, `${text} on ${blobSize}: ${JSON.stringify(range)}`);
      }),
    );
  });

  void it('gives exactly first-last back when both lie inside the blob', () => {
    check(
      fc.property(fc.integer({ min: 1, max: 1 << 30 }).chain((blobSize) => fc.tuple(fc.constant(blobSize), fc.integer({ min: 0, max: blobSize - 1 }), fc.integer({ min: 0, max: blobSize - 1 }))), ([blobSize, a, b]) => {
        const [first, last] = a <= b ? [a, b] : [b, a];
        assert.deepEqual(resolveRange(`bytes=${first}-${last}`, blobSize), { start: first, end: last });
        assert.deepEqual(resolveRange(`bytes=${first}-`, blobSize), { start: first, end: blobSize - 1 });
      }),
    );
  });
});
