import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { digestToMdnsName } from '../discovery/digest-name.js';

void describe('digestToMdnsName', () => {
  void it('encodes sha256 as one 52-character base32 label and sha512 as two', () => {
    const sha256 = digestToMdnsName(`sha256:${'00'.repeat(31)}ff`);
    assert.equal(sha256, `${'a'.repeat(49)}d7q.sha256._edgepier-blob.local`); // python3 base64.b32encode agrees
    const sha512 = digestToMdnsName(`sha512:${'ff'.repeat(64)}`) ?? '';
    const labels = sha512.split('.');
    assert.deepEqual(labels.slice(0, 2).map((label) => label.length), [52, 51]);
    assert.ok(labels.every((label) => label.length <= 63));
    assert.ok(sha512.length <= 253);
  });

  void it('matches RFC 4648 base32 (lower case, no padding)', () => {
    // "foobar" is 666f6f626172: RFC 4648 test vector MZXW6YTBOI.
    const name = digestToMdnsName(`sha256:666f6f626172${'00'.repeat(26)}`) ?? '';
    assert.ok(name.startsWith('mzxw6ytboi'));
  });

  void it('rejects anything that is not a lower-case sha256/sha512 digest', () => {
    for (const bad of ['', 'sha256:', `sha256:${'A'.repeat(64)}`, `sha256:${'0'.repeat(63)}`, `md5:${'0'.repeat(32)}`, `sha256:${'0'.repeat(64)}\n`]) {
      assert.equal(digestToMdnsName(bad), undefined, JSON.stringify(bad));
    }
  });
});
