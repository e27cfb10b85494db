import type { Digest } from '../oci/digest.js';
import type { BlobWriter, StoredBlob } from './blob-store.js';

/** Stands in for a spool that could not be created because the disk is full. */
export class DiskFullWriter implements BlobWriter {
  readonly bytesWritten = 0;

  constructor(
    readonly digest: Digest,
    private readonly error: unknown,
  ) {}

  write(): Promise<void> {
    return Promise.reject(this.error instanceof Error ? this.error : new Error(String(this.error)));
  }

  read(): Promise<Buffer> {
    return Promise.resolve(Buffer.alloc(0));
  }

  commit(): Promise<StoredBlob> {
    return Promise.reject(this.error instanceof Error ? this.error : new Error(String(this.error)));
  }

  abort(): Promise<void> {
    return Promise.resolve();
  }
}
