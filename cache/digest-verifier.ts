import type { Hash } from 'node:crypto';
import { createDigestHash, type Digest } from '../oci/digest.js';
import { CodedError } from './blob-store.js';

/** Hashes bytes as they are appended and checks the total against the expected digest. */
export class DigestVerifier {
  private readonly hash: Hash;

  constructor(private readonly expected: Digest) {
    this.hash = createDigestHash(expected);
  }

  update(chunk: Buffer): void {
    this.hash.update(chunk);
  }

  /** Throws `EINTEGRITY` unless every byte seen hashes to the expected digest. */
  verify(): void {
    const actual = this.hash.digest('hex');
    if (actual !== this.expected.hex) {
      throw new CodedError('EINTEGRITY', `content does not match ${this.expected.value} (got ${this.expected.algorithm}:${actual})`);
    }
  }
}
