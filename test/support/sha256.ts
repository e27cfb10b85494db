// Content digests as the OCI distribution spec writes them.
import { createHash } from 'node:crypto';

/** `sha256:<hex>` of the given bytes. */
export function sha256Digest(data: Buffer | Uint8Array | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}
