import { EventEmitter } from 'node:events';
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import type { BlobWriter, StoredBlob } from '../cache/blob-store.js';
import { hasCode } from '../cache/blob-store.js';
import { ByteWindow } from '../cache/byte-window.js';
import { DigestVerifier } from '../cache/digest-verifier.js';
import { isDiskFull } from '../cache/disk-full.js';
import { parseDigest } from '../oci/digest.js';
import { OciError } from '../oci/oci-error.js';
import type { BlobSource } from './blob-source.js';
import { DownloadReader } from './download-reader.js';

/** `uncached`: every byte arrived and matched the digest, but the disk was full, so nothing was stored. */
type DownloadState = 'running' | 'committed' | 'uncached' | 'failed';

/**
 * Once the spool cannot grow (disk full), readers are fed from memory: this many bytes past
 * the fastest reader at most, so memory stays flat whatever the layer size.
 */
const PASS_THROUGH_WINDOW_BYTES = 8 * 1024 * 1024;
/** An uncached download that no reader drains for this long is abandoned. */
const PASS_THROUGH_STALL_MS = 30_000;

/** The state of a download that went on without its spool (disk full). */
interface PassThrough {
  /** Bytes 0..spooled are still readable from the spool; later ones only from `window`. */
  readonly spooled: number;
  readonly window: ByteWindow;
  readonly verifier: DigestVerifier;
  /** The furthest byte any reader asked for: the source never runs more than a window ahead. */
  readHighWater: number;
  wake: (() => void) | undefined;
}

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
  private passThrough: PassThrough | undefined;
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
        // Served but not stored: readers finish normally, only the cache missed out.
        if (this.state === 'uncached') throw failure;
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

  /** Bytes received so far (spooled, or held in memory once the disk filled up). */
  get bytesWritten(): number {
    return this.passThrough ? this.passThrough.window.end : this.writer.bytesWritten;
  }

  get error(): Error | undefined {
    return this.failure;
  }

  /** Every byte is here and verified: readers may take the last one (true too when nothing could be stored). */
  get isCommitted(): boolean {
    return this.state === 'committed' || this.state === 'uncached';
  }

  /** True when the download reached readers but the disk was too full to cache it. */
  get isUncached(): boolean {
    return this.passThrough !== undefined || this.state === 'uncached';
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
    return this.isCommitted ? this.bytesWritten : Math.max(0, this.bytesWritten - 1);
  }

  /** A stream of bytes `start..end` (inclusive) that follows the download as it grows. */
  createReader(start = 0, end?: number): Readable {
    this.readers += 1;
    const reader = new DownloadReader(this, start, end);
    reader.once('close', () => {
      this.readers -= 1;
      // Nobody left to feed and nothing can be stored: the bytes would go nowhere.
      if (this.passThrough && this.state === 'running' && this.readers === 0) this.abort('no reader left for a download that cannot be cached');
      this.releaseWhenIdle();
    });
    return reader;
  }

  readChunk(position: number, length: number): Promise<Buffer> {
    const passThrough = this.passThrough;
    if (!passThrough) return this.writer.read(position, length);
    if (position < passThrough.spooled) return this.writer.read(position, Math.min(length, passThrough.spooled - position));
    const bytes = passThrough.window.read(position, length);
    if (position + bytes.length > passThrough.readHighWater) {
      passThrough.readHighWater = position + bytes.length;
      passThrough.wake?.();
    }
    return Promise.resolve(bytes);
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
        const before = this.bytesWritten;
        let uncached = false;
        try {
          await this.copyFrom(source, resolveSized);
          try {
            if (!this.passThrough) return await this.writer.commit();
            this.passThrough.verifier.verify();
          } catch (error) {
            if (hasCode(error, 'EINTEGRITY')) source.reportCorrupt?.();
            // Verified (commit checks the digest before it writes anything) but not storable.
            if (!isDiskFull(error)) throw error;
          }
          uncached = true;
        } catch (error) {
          // A digest mismatch means bytes already handed to readers were wrong: the download
          // cannot be repaired by resuming, so it fails and the next request starts clean.
          if (hasCode(error, 'EINTEGRITY')) {
            throw new OciError('UPSTREAM_ERROR', `${source.name} sent content that does not match ${this.digest}`);
          }
          lastError = error;
          failures.push(`${source.name}: ${error instanceof Error ? error.message : String(error)}`);
          // A peer that simply lacks the blob is the normal cold case, not a fault worth a warning.
          const miss = source.kind === 'peer' && error instanceof OciError && error.code === 'BLOB_UNKNOWN';
          this.logger[miss ? 'debug' : 'warn'](
            { digest: this.digest, source: source.name, offset: this.bytesWritten, err: describe(error) },
            miss ? 'no peer had the blob' : 'blob source failed',
          );
          if (this.bytesWritten === before) break;
        }
        if (uncached) return this.servedUncached();
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
    const offset = this.bytesWritten;
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
        if (this.totalSize !== undefined && this.bytesWritten + chunk.length > this.totalSize) {
          throw new OciError('UPSTREAM_ERROR', `${source.name} sent more than the ${this.totalSize} bytes it announced`);
        }
        await this.append(chunk);
        this.emit('progress');
      }
    } finally {
      this.abortController.signal.removeEventListener('abort', onAbort);
    }
    if (this.totalSize !== undefined && this.bytesWritten !== this.totalSize) {
      throw new OciError('UPSTREAM_ERROR', `${source.name} ended after ${this.bytesWritten} of ${this.totalSize} bytes`);
    }
    if (this.totalSize === undefined) {
      // No length announced: the size is whatever arrived (and the digest check decides).
      this.totalSize = this.bytesWritten;
      resolveSized(this.totalSize);
    }
  }

  /** Spools the chunk; when the disk is full, switches to feeding readers from memory instead. */
  private async append(chunk: Buffer): Promise<void> {
    if (!this.passThrough) {
      try {
        await this.writer.write(chunk);
        return;
      } catch (error) {
        if (!isDiskFull(error)) throw error;
        await this.startPassThrough(error);
      }
    }
    const passThrough = this.passThrough;
    if (!passThrough) return;
    await this.waitForReaders(passThrough);
    passThrough.verifier.update(chunk);
    passThrough.window.push(chunk);
    passThrough.window.trimBefore(Math.min(passThrough.readHighWater, passThrough.window.end - PASS_THROUGH_WINDOW_BYTES));
  }

  /**
   * The spool write failed for lack of space. The bytes already spooled stay readable from
   * the spool; the digest is re-hashed from them (the writer's own hash saw the failed chunk).
   */
  private async startPassThrough(error: unknown): Promise<void> {
    const spooled = this.writer.bytesWritten;
    this.logger.warn({ digest: this.digest, spooled, err: describe(error) }, 'disk full: serving this blob without caching it');
    const verifier = new DigestVerifier(parseDigest(this.digest));
    const step = 1024 * 1024;
    for (let position = 0; position < spooled; position += step) {
      const bytes = await this.writer.read(position, Math.min(step, spooled - position));
      if (bytes.length === 0) throw new Error('spool read returned no bytes');
      verifier.update(bytes);
    }
    this.passThrough = { spooled, window: new ByteWindow(spooled), verifier, readHighWater: spooled, wake: undefined };
  }

  /** Backpressure: holds the source while the fastest reader is a full window behind. */
  private async waitForReaders(passThrough: PassThrough): Promise<void> {
    const deadline = Date.now() + PASS_THROUGH_STALL_MS;
    while (passThrough.window.end - passThrough.readHighWater >= PASS_THROUGH_WINDOW_BYTES) {
      const signal = this.abortController.signal;
      if (signal.aborted) throw new OciError('UNAVAILABLE', 'download aborted');
      const left = deadline - Date.now();
      if (left <= 0) throw new OciError('UNAVAILABLE', 'no reader drained an uncached download');
      await new Promise<void>((resolve) => {
        const done = (): void => {
          clearTimeout(timer);
          signal.removeEventListener('abort', done);
          passThrough.wake = undefined;
          resolve();
        };
        const timer = setTimeout(done, left);
        signal.addEventListener('abort', done, { once: true });
        passThrough.wake = done;
      });
    }
  }

  /** Readers get every byte; `finished` rejects, so nothing is advertised as held. */
  private servedUncached(): never {
    this.settle('uncached');
    throw new OciError('UNAVAILABLE', `${this.digest} was served but not cached: the disk is full`);
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
