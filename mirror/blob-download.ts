import { EventEmitter } from 'node:events';
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import type { BlobWriter, StoredBlob } from '../cache/blob-store.js';
import { hasCode } from '../cache/blob-store.js';
import { OciError } from '../oci/oci-error.js';
import type { BlobSource } from './blob-source.js';
import { DownloadReader } from './download-reader.js';

type DownloadState = 'running' | 'committed' | 'failed';

export interface DownloadEvents {
  progress: [];
  settled: [];
}

/**
 * One download of one blob into the cache, shared by every request that wants it while it
 * runs. Bytes go to a spool that readers follow as it grows (cut-through), so a joining
 * client starts receiving at once. Sources are tried in order; a source that breaks
 * mid-stream is replaced by the next one, resuming at the byte where it broke.
 * The download belongs to no request: a client that disconnects does not stop it.
 */
export class BlobDownload extends EventEmitter<DownloadEvents> {
  private state: DownloadState = 'running';
  private failure: Error | undefined;
  private totalSize: number | undefined;
  private currentSource = '';
  private readers = 0;
  private released = false;
  private readonly abortController = new AbortController();
  /** Resolves with the blob's size once a source answered; rejects if none could. */
  readonly sized: Promise<number>;
  /** Resolves when the verified blob is committed to the cache. */
  readonly finished: Promise<StoredBlob>;

  constructor(
    private readonly writer: BlobWriter,
    sources: readonly BlobSource[],
    private readonly logger: Logger,
  ) {
    super();
    this.setMaxListeners(0);
    let resolveSized: (size: number) => void = () => undefined;
    let rejectSized: (error: Error) => void = () => undefined;
    this.sized = new Promise<number>((resolve, reject) => {
      resolveSized = resolve;
      rejectSized = reject;
    });
    this.finished = this.run(sources, resolveSized).then(
      (stored) => {
        this.settle('committed');
        return stored;
      },
      (error: unknown) => {
        const failure = error instanceof Error ? error : new Error(String(error));
        this.failure = failure;
        rejectSized(failure);
        this.settle('failed');
        throw failure;
      },
    );
    // Both promises are observed by whoever joins; an unjoined failure is already logged.
    this.sized.catch(() => undefined);
    this.finished.catch(() => undefined);
  }

  get digest(): string {
    return this.writer.digest.value;
  }

  get size(): number | undefined {
    return this.totalSize;
  }

  get source(): string {
    return this.currentSource;
  }

  get bytesWritten(): number {
    return this.writer.bytesWritten;
  }

  get error(): Error | undefined {
    return this.failure;
  }

  get isCommitted(): boolean {
    return this.state === 'committed';
  }

  get isFailed(): boolean {
    return this.state === 'failed';
  }

  /**
   * How far readers may go. Until the digest is verified the last byte is held back, so a
   * client can never receive a complete body of unverified content: a lying source costs a
   * truncated response (which every client treats as an error), never wrong bytes accepted.
   */
  get readableLimit(): number {
    return this.state === 'committed' ? this.writer.bytesWritten : Math.max(0, this.writer.bytesWritten - 1);
  }

  /** A stream of bytes `start..end` (inclusive) that follows the download as it grows. */
  createReader(start = 0, end?: number): Readable {
    this.readers += 1;
    const reader = new DownloadReader(this, start, end);
    reader.once('close', () => {
      this.readers -= 1;
      this.releaseWhenIdle();
    });
    return reader;
  }

  readChunk(position: number, length: number): Promise<Buffer> {
    return this.writer.read(position, length);
  }

  /** Stops the download (shutdown). Readers see an error, nothing is committed. */
  abort(reason: string): void {
    this.abortController.abort(new OciError('UNAVAILABLE', reason));
  }

  private async run(sources: readonly BlobSource[], resolveSized: (size: number) => void): Promise<StoredBlob> {
    const failures: string[] = [];
    let lastError: unknown;
    for (const source of sources) {
      // A source that broke after delivering bytes gets one resume (a Range request from
      // where it broke) before the next source is tried: a cut WAN connection is common,
      // and re-fetching what already arrived would waste the link we exist to spare.
      for (let attempt = 0; attempt < 2 && !this.abortController.signal.aborted; attempt += 1) {
        const before = this.writer.bytesWritten;
        try {
          await this.copyFrom(source, resolveSized);
          try {
            return await this.writer.commit();
          } catch (error) {
            if (hasCode(error, 'EINTEGRITY')) source.reportCorrupt?.();
            throw error;
          }
        } catch (error) {
          // A digest mismatch means bytes already handed to readers were wrong: the download
          // cannot be repaired by resuming, so it fails and the next request starts clean.
          if (hasCode(error, 'EINTEGRITY')) {
            throw new OciError('UPSTREAM_ERROR', `${source.name} sent content that does not match ${this.digest}`);
          }
          lastError = error;
          failures.push(`${source.name}: ${error instanceof Error ? error.message : String(error)}`);
          this.logger.warn(
            { digest: this.digest, source: source.name, offset: this.writer.bytesWritten, err: describe(error) },
            'blob source failed',
          );
          if (this.writer.bytesWritten === before) break;
        }
      }
    }
    if (this.abortController.signal.aborted) throw new OciError('UNAVAILABLE', 'download aborted');
    // The last source's own error says best what the client should see (404, 504, ...).
    if (lastError instanceof OciError) throw lastError;
    throw new OciError('UPSTREAM_ERROR', `could not download ${this.digest}: ${failures.at(-1) ?? 'no source'}`, {
      detail: { attempts: failures },
    });
  }

  private async copyFrom(source: BlobSource, resolveSized: (size: number) => void): Promise<void> {
    const offset = this.writer.bytesWritten;
    const opened = await source.open(offset, this.abortController.signal);
    if (opened.size !== undefined) {
      if (this.totalSize === undefined) {
        this.totalSize = opened.size;
      } else if (opened.size !== this.totalSize) {
        opened.stream.destroy();
        throw new OciError('UPSTREAM_ERROR', `${source.name} reports ${opened.size} bytes, expected ${this.totalSize}`);
      }
    }
    this.currentSource = source.name;
    if (this.totalSize !== undefined) resolveSized(this.totalSize);
    // A source that ignored our Range starts at 0: skip what the spool already has.
    let skip = offset - opened.offset;
    if (skip < 0) {
      opened.stream.destroy();
      throw new OciError('UPSTREAM_ERROR', `${source.name} resumed past the requested offset`);
    }
    const onAbort = (): void => {
      opened.stream.destroy(new OciError('UNAVAILABLE', 'download aborted'));
    };
    this.abortController.signal.addEventListener('abort', onAbort, { once: true });
    try {
      for await (const piece of opened.stream) {
        let chunk = piece as Buffer;
        if (skip > 0) {
          const dropped = Math.min(skip, chunk.length);
          skip -= dropped;
          chunk = chunk.subarray(dropped);
          if (chunk.length === 0) continue;
        }
        if (this.totalSize !== undefined && this.writer.bytesWritten + chunk.length > this.totalSize) {
          throw new OciError('UPSTREAM_ERROR', `${source.name} sent more than the ${this.totalSize} bytes it announced`);
        }
        await this.writer.write(chunk);
        this.emit('progress');
      }
    } finally {
      this.abortController.signal.removeEventListener('abort', onAbort);
    }
    if (this.totalSize !== undefined && this.writer.bytesWritten !== this.totalSize) {
      throw new OciError('UPSTREAM_ERROR', `${source.name} ended after ${this.writer.bytesWritten} of ${this.totalSize} bytes`);
    }
    if (this.totalSize === undefined) {
      // No length announced: the size is whatever arrived (and the digest check decides).
      this.totalSize = this.writer.bytesWritten;
      resolveSized(this.totalSize);
    }
  }

  private settle(state: DownloadState): void {
    this.state = state;
    this.emit('settled');
    this.releaseWhenIdle();
  }

  private releaseWhenIdle(): void {
    if (this.state === 'running' || this.readers > 0 || this.released) return;
    this.released = true;
    void this.writer.abort();
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
