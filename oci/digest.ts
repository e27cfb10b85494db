import { createHash, type Hash } from 'node:crypto';
import { RegistryError } from './registry-error.js';

/** The digest algorithms the OCI image spec registers, with the hex length of each. */
const ALGORITHMS = { sha256: 64, sha512: 128 } as const;
export type DigestAlgorithm = keyof typeof ALGORITHMS;

/** A validated `algorithm:hex` content digest (lower-case hex, as the spec requires). */
export interface Digest {
  readonly algorithm: DigestAlgorithm;
  readonly hex: string;
  /** The canonical `algorithm:hex` string. */
  readonly value: string;
}

const DIGEST_SHAPE = /^([a-z0-9]+(?:[.+_-][a-z0-9]+)*):([a-zA-Z0-9=_-]+)$/;

/**
 * Parses a digest string. A well-formed digest of an algorithm we do not implement is
 * `UNSUPPORTED`, anything else malformed is `DIGEST_INVALID`: clients use the difference.
 */
export function parseDigest(text: string): Digest {
  const match = DIGEST_SHAPE.exec(text);
  if (!match) throw new RegistryError('DIGEST_INVALID', `invalid digest: ${truncate(text)}`);
  const [, algorithm = '', hex = ''] = match;
  if (!isAlgorithm(algorithm)) {
    throw new RegistryError('UNSUPPORTED', `unsupported digest algorithm: ${truncate(algorithm)}`);
  }
  if (hex.length !== ALGORITHMS[algorithm] || !/^[0-9a-f]+$/.test(hex)) {
    throw new RegistryError('DIGEST_INVALID', `invalid ${algorithm} digest: ${truncate(text)}`);
  }
  return { algorithm, hex, value: `${algorithm}:${hex}` };
}

export function isDigestString(text: string): boolean {
  try {
    parseDigest(text);
    return true;
  } catch {
    return false;
  }
}

function isAlgorithm(name: string): name is DigestAlgorithm {
  return Object.hasOwn(ALGORITHMS, name);
}

export function createDigestHash(digest: Digest): Hash {
  return createHash(digest.algorithm);
}

export function digestOf(bytes: Buffer, algorithm: DigestAlgorithm = 'sha256'): Digest {
  return parseDigest(`${algorithm}:${createHash(algorithm).update(bytes).digest('hex')}`);
}

/** Subresource-integrity form (`sha256-<base64>`), the key cacache verifies content against. */
export function toIntegrity(digest: Digest): string {
  return `${digest.algorithm}-${Buffer.from(digest.hex, 'hex').toString('base64')}`;
}

function truncate(text: string): string {
  return text.length > 80 ? `${text.slice(0, 80)}…` : text;
}
