/**
 * The mDNS name under which holders of a digest answer, e.g.
 * `sha256:<64 hex>` → `<52 base32 chars>.sha256._edgepier-blob.local`.
 *
 * Base32 (RFC 4648 alphabet, lower case, no padding) because DNS labels are
 * case-insensitive and at most 63 bytes: 32 hash bytes become 52 characters, one label,
 * where hex would need 64. sha512 (103 characters) is split over two labels.
 */

export const BLOB_NAME_SUFFIX = '._edgepier-blob.local';

// A sha256 in base32 is exactly 52 characters: one label (DNS allows 63). Longer hashes are
// cut into labels of that size so every digest of one algorithm has the same shape.
const LABEL_CHARS = 52;
const ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567';
const DIGEST_PATTERN = /^(sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128})$/;

export function isSupportedDigest(digest: string): boolean {
  return DIGEST_PATTERN.test(digest);
}

/** Returns undefined for anything that is not a well-formed sha256/sha512 digest. */
export function digestToMdnsName(digest: string): string | undefined {
  if (!isSupportedDigest(digest)) return undefined;
  const colon = digest.indexOf(':');
  const algorithm = digest.slice(0, colon);
  const encoded = base32(Buffer.from(digest.slice(colon + 1), 'hex'));
  const labels: string[] = [];
  for (let at = 0; at < encoded.length; at += LABEL_CHARS) labels.push(encoded.slice(at, at + LABEL_CHARS));
  return `${labels.join('.')}.${algorithm}${BLOB_NAME_SUFFIX}`;
}

function base32(bytes: Buffer): string {
  let out = '';
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += ALPHABET[(buffer >>> (bits - 5)) & 31] ?? '';
      bits -= 5;
    }
    buffer &= (1 << bits) - 1;
  }
  if (bits > 0) out += ALPHABET[(buffer << (5 - bits)) & 31] ?? '';
  return out;
}
