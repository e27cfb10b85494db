// Puts bytes into a blob store the way the mirror does after a download: write, commit (which
// verifies the digest), then abort, which after a commit only releases the writer's resources.
import type { BlobStore } from '../../cache/blob-store.js';
import { digestOf, type Digest } from '../../oci/digest.js';

/** Commits `bytes` to `store` in writes of `chunkBytes` (default: one write); returns its digest. */
export async function commitBlob(store: BlobStore, bytes: Buffer, chunkBytes = bytes.length): Promise<Digest> {
  const digest = digestOf(bytes);
  const step = Math.max(1, chunkBytes);
  const writer = await store.createWriter(digest);
  try {
    for (let offset = 0; offset < bytes.length; offset += step) await writer.write(bytes.subarray(offset, offset + step));
    await writer.commit();
  } finally {
    await writer.abort();
  }
  return digest;
}
