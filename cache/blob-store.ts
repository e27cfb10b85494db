import type { Readable } from 'node:stream';
import type { ByteRange } from '../oci/byte-range.js';
import type { Digest } from '../oci/digest.js';

/** Content that is committed: verified against its digest, safe to serve and share. */
export interface StoredBlob {
  readonly digest: string;
  readonly size: number;
  /** Set for manifests, whose Content-Type clients need back. */
  readonly mediaType?: string;
  /** The content file's mtime, where there is a file (tells a rewritten file from the verified one). */
  readonly mtimeMs?: number;
}

/** How a read stream may treat the chunks it emits. */
export interface BlobReadOptions {
  /**
   * True when every chunk the stream has emitted so far has left the process (its one consumer
   * wrote each out and holds none of them, e.g. a socket whose writableLength is 0). The stream
   * may then read its next chunk into the memory of the last one instead of a fresh buffer.
   * Only a consumer that writes chunks out, never one that keeps them, may pass it.
   */
  readonly consumed?: () => boolean;
}

/**
 * A content-addressed store. Nothing reaches it except through a `BlobWriter` whose bytes
 * hashed to the digest, so whatever `stat` finds is verified content.
 */
export interface BlobStore {
  stat(digest: Digest): Promise<StoredBlob | undefined>;
  /** Rejects with code `ENOENT` when the blob is not (or no longer) stored. */
  createReadStream(digest: Digest, range?: ByteRange, options?: BlobReadOptions): Promise<Readable>;
  /** Starts a spool for `digest`. Bytes can be read back while it grows (cut-through). */
  createWriter(digest: Digest, options?: { mediaType?: string }): Promise<BlobWriter>;
  remove(digest: Digest): Promise<void>;
  list(): AsyncIterable<StoredBlob>;
}

export interface BlobWriter {
  readonly digest: Digest;
  readonly bytesWritten: number;
  /** Appends a chunk. Callers write sequentially: never two writes at once. */
  write(chunk: Buffer): Promise<void>;
  /** Reads back bytes already written, for readers that follow the download. */
  read(position: number, length: number): Promise<Buffer>;
  /**
   * Verifies the written bytes against the digest and commits them. Rejects with code
   * `EINTEGRITY` (and discards the bytes) on a mismatch.
   */
  commit(): Promise<StoredBlob>;
  /** Discards the spool. Safe to call after commit (then it only releases resources). */
  abort(): Promise<void>;
}

/** An error with a literal code, the way cacache and node report them. */
export class CodedError extends Error {
  constructor(
    readonly code: 'ENOENT' | 'EINTEGRITY',
    message: string,
  ) {
    super(message);
    this.name = 'CodedError';
  }
}

/** The `code` of an error thrown by Node, got, cacache or our own domain errors; undefined when it has none. */
export function errorCode(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'code' in error ? String(error.code) : undefined;
}

export function hasCode(error: unknown, code: string): boolean {
  return errorCode(error) === code;
}
