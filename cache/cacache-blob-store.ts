import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import cacache from 'cacache';
// cacache has no public "adopt this verified file" call; its content path layout
// (content-v2/<algo>/<xx>/<yy>/<rest>) is stable and is what cacache itself writes to.
// A private module: package.json pins cacache to one exact version, so moving to a release
// that renames or reshapes it is a deliberate change, never a lockfile refresh.
import contentPath from 'cacache/lib/content/path.js';
import type { ByteRange } from '../oci/byte-range.js';
import { parseDigest, toIntegrity, type Digest } from '../oci/digest.js';
import { CodedError, type BlobReadOptions, type BlobStore, type BlobWriter, type StoredBlob } from './blob-store.js';
import { DigestVerifier } from './digest-verifier.js';
import { FileRangeReader } from './file-range-reader.js';
import { ReadBudget } from './read-budget.js';

/**
 * Size of each file read when serving a client that keeps up. Node's default (64 KiB) costs a
 * thread-pool round trip per 64 KiB and held cache hits far below nginx's throughput
 * (BENCHMARKS.md, Serving).
 */
const READ_CHUNK_BYTES = 1024 * 1024;

interface EntryMetadata {
  mediaType?: string;
}

export function blobKey(digest: Digest): string {
  return `blob:${digest.value}`;
}

/**
 * Blobs on disk in a cacache directory, keyed by digest, with the digest as the cacache
 * integrity. Downloads spool into the cache's own tmp folder (same filesystem), are hashed
 * while they arrive, and are renamed into cacache's content path only when the hash matches:
 * one disk write, and nothing unverified ever sits where a reader could find it.
 */
export class CacacheBlobStore implements BlobStore {
  constructor(
    readonly directory: string,
    /** Bounds the large read chunks of all this store's open reads together. */
    private readonly readBudget = new ReadBudget(),
  ) {}

  async stat(digest: Digest): Promise<StoredBlob | undefined> {
    const info = await cacache.get.info(this.directory, blobKey(digest));
    if (!info) return undefined;
    try {
      const file = await stat(info.path);
      if (file.size !== info.size) {
        // Truncated or grown behind our back: never serve it. Dropping it makes this a miss,
        // so the mirror fetches a good copy.
        await this.remove(digest);
        return undefined;
      }
      const metadata = (info.metadata ?? {}) as EntryMetadata;
      return { digest: digest.value, size: file.size, mtimeMs: file.mtimeMs, ...(metadata.mediaType ? { mediaType: metadata.mediaType } : {}) };
    } catch {
      // The index names content that is gone (removed by hand, or by `cacache verify`).
      await cacache.rm.entry(this.directory, blobKey(digest));
      return undefined;
    }
  }

  async createReadStream(digest: Digest, range?: ByteRange, options: BlobReadOptions = {}): Promise<Readable> {
    // The content path follows from the digest, so serving skips the index: callers stat()
    // first, and content only ever appears at its path once verified (see SpoolWriter.commit).
    const path = contentPath(this.directory, toIntegrity(digest));
    const handle = await open(path, 'r').catch((error: unknown) => {
      throw new CodedError('ENOENT', `${digest.value} is not cached: ${String(error)}`);
    });
    let size: number;
    try {
      ({ size } = await handle.stat());
    } catch (error) {
      await handle.close();
      throw error;
    }
    const start = range?.start ?? 0;
    const end = range?.end ?? size - 1;
    // Raw file reads, not cacache.get.stream: content was verified once on the way in, and
    // re-hashing every serve would cap throughput well below what the disk can do (cacache's
    // stream also reads ahead a full buffer whatever the client takes). Reads grow to
    // READ_CHUNK_BYTES (or its share of the read budget, with many readers) once the client
    // has shown it keeps up (see FileRangeReader).
    return new FileRangeReader(handle, start, end, READ_CHUNK_BYTES, this.readBudget, options.consumed);
  }

  async createWriter(digest: Digest, options: { mediaType?: string } = {}): Promise<BlobWriter> {
    const tmpDirectory = join(this.directory, 'tmp');
    await mkdir(tmpDirectory, { recursive: true });
    const spoolPath = join(tmpDirectory, `spool-${digest.hex.slice(0, 12)}-${randomBytes(6).toString('hex')}`);
    const handle = await open(spoolPath, 'w+');
    return new SpoolWriter(this.directory, digest, spoolPath, handle, options.mediaType);
  }

  async remove(digest: Digest): Promise<void> {
    await cacache.rm.entry(this.directory, blobKey(digest));
    await rm(contentPath(this.directory, toIntegrity(digest)), { force: true });
  }

  async *list(): AsyncIterable<StoredBlob> {
    const entries = await cacache.ls(this.directory);
    for (const [key, entry] of Object.entries(entries)) {
      if (!key.startsWith('blob:')) continue;
      const metadata = (entry.metadata ?? {}) as EntryMetadata;
      yield {
        digest: parseDigest(key.slice('blob:'.length)).value,
        size: entry.size,
        ...(metadata.mediaType ? { mediaType: metadata.mediaType } : {}),
      };
    }
  }
}

class SpoolWriter implements BlobWriter {
  private written = 0;
  private readonly verifier: DigestVerifier;
  private closed = false;

  constructor(
    private readonly cacheDirectory: string,
    readonly digest: Digest,
    private readonly spoolPath: string,
    private readonly handle: FileHandle,
    private readonly mediaType: string | undefined,
  ) {
    this.verifier = new DigestVerifier(digest);
  }

  get bytesWritten(): number {
    return this.written;
  }

  async write(chunk: Buffer): Promise<void> {
    this.verifier.update(chunk);
    let offset = 0;
    while (offset < chunk.length) {
      const { bytesWritten } = await this.handle.write(chunk, offset, chunk.length - offset, this.written + offset);
      offset += bytesWritten;
    }
    this.written += chunk.length;
  }

  async read(position: number, length: number): Promise<Buffer> {
    const size = Math.max(0, Math.min(length, this.written - position));
    const buffer = Buffer.allocUnsafe(size);
    let filled = 0;
    while (filled < size) {
      const { bytesRead } = await this.handle.read(buffer, filled, size - filled, position + filled);
      if (bytesRead === 0) break;
      filled += bytesRead;
    }
    return buffer.subarray(0, filled);
  }

  async commit(): Promise<StoredBlob> {
    try {
      this.verifier.verify();
    } catch (error) {
      await this.abort();
      throw error;
    }
    // Data reaches the disk before the rename makes it visible: after a crash the content
    // path holds either nothing or the whole verified blob.
    await this.handle.datasync();
    // The stamp serve verification compares against later (a rename keeps the mtime).
    const { mtimeMs } = await this.handle.stat();
    const integrity = toIntegrity(this.digest);
    const target = contentPath(this.cacheDirectory, integrity);
    await mkdir(dirname(target), { recursive: true });
    await rename(this.spoolPath, target);
    await cacache.index.insert(this.cacheDirectory, blobKey(this.digest), integrity, {
      size: this.written,
      metadata: this.mediaType ? { mediaType: this.mediaType } : {},
    });
    return { digest: this.digest.value, size: this.written, mtimeMs, ...(this.mediaType ? { mediaType: this.mediaType } : {}) };
  }

  async abort(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.handle.close().catch(() => undefined);
    await rm(this.spoolPath, { force: true });
  }
}
