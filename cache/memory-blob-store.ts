import { Readable } from 'node:stream';
import type { ByteRange } from '../oci/byte-range.js';
import type { Digest } from '../oci/digest.js';
import { CodedError, type BlobStore, type BlobWriter, type StoredBlob } from './blob-store.js';
import { DigestVerifier } from './digest-verifier.js';

/** The in-memory twin of CacacheBlobStore, for tests of the layers above the cache. */
export class MemoryBlobStore implements BlobStore {
  private readonly blobs = new Map<string, { bytes: Buffer; mediaType?: string }>();

  stat(digest: Digest): Promise<StoredBlob | undefined> {
    const entry = this.blobs.get(digest.value);
    return Promise.resolve(
      entry && { digest: digest.value, size: entry.bytes.length, ...(entry.mediaType ? { mediaType: entry.mediaType } : {}) },
    );
  }

  createReadStream(digest: Digest, range?: ByteRange): Promise<Readable> {
    const entry = this.blobs.get(digest.value);
    if (!entry) return Promise.reject(new CodedError('ENOENT', `${digest.value} is not cached`));
    const bytes = range ? entry.bytes.subarray(range.start, range.end + 1) : entry.bytes;
    // A byte stream, as a file stream is: Readable.from alone would make an object stream.
    return Promise.resolve(Readable.from([bytes], { objectMode: false }));
  }

  createWriter(digest: Digest, options: { mediaType?: string } = {}): Promise<BlobWriter> {
    return Promise.resolve(new MemoryWriter(digest, options.mediaType, (bytes) => {
      this.blobs.set(digest.value, { bytes, ...(options.mediaType ? { mediaType: options.mediaType } : {}) });
    }));
  }

  remove(digest: Digest): Promise<void> {
    this.blobs.delete(digest.value);
    return Promise.resolve();
  }

  async *list(): AsyncIterable<StoredBlob> {
    for (const [digest, entry] of [...this.blobs]) {
      await Promise.resolve();
      yield { digest, size: entry.bytes.length, ...(entry.mediaType ? { mediaType: entry.mediaType } : {}) };
    }
  }
}

class MemoryWriter implements BlobWriter {
  private chunks: Buffer[] = [];
  private written = 0;
  private readonly verifier: DigestVerifier;

  constructor(
    readonly digest: Digest,
    private readonly mediaType: string | undefined,
    private readonly onCommit: (bytes: Buffer) => void,
  ) {
    this.verifier = new DigestVerifier(digest);
  }

  get bytesWritten(): number {
    return this.written;
  }

  write(chunk: Buffer): Promise<void> {
    this.verifier.update(chunk);
    this.chunks.push(Buffer.from(chunk));
    this.written += chunk.length;
    return Promise.resolve();
  }

  read(position: number, length: number): Promise<Buffer> {
    const all = Buffer.concat(this.chunks);
    this.chunks = [all];
    return Promise.resolve(Buffer.from(all.subarray(position, Math.min(position + length, this.written))));
  }

  commit(): Promise<StoredBlob> {
    try {
      this.verifier.verify();
    } catch (error) {
      this.chunks = [];
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
    this.onCommit(Buffer.concat(this.chunks));
    return Promise.resolve({ digest: this.digest.value, size: this.written, ...(this.mediaType ? { mediaType: this.mediaType } : {}) });
  }

  abort(): Promise<void> {
    return Promise.resolve();
  }
}
