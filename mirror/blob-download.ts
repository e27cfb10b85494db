import { EventEmitter } from 'node:events';
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import type { BlobWriter, StoredBlob } from '../cache/blob-store.js';
import { hasCode } from '../cache/blob-store.js';
import { isDiskFull } from '../cache/disk-full.js';
import { isCannotSpool } from '../cache/spool-full.js';
import { RegistryError } from '../oci/registry-error.js';
import type { UpstreamBlob } from '../upstream/registry-client.js';
import type { BlobSource } from './blob-source.js';
import { DownloadReader } from './download-reader.js';
import { openHedged, type SourceOpening } from './hedged-open.js';
import { PassThrough } from './pass-through.js';
import { describeError, SourceAttempts } from './source-attempts.js';
import { SourceFault } from './source-fault.js';
import { DEFAULT_SOURCE_PACE, type SourcePace } from './source-pace.js';
import { pumpSource } from './source-pump.js';
import { UpstreamRedial } from './upstream-redial.js';

/** `uncached`: every byte arrived and matched the digest, but the disk was full (or the spool bound reached), so nothing was stored. */
type DownloadState = 'running' | 'committed' | 'uncached' | 'failed';

export interface BlobDownloadOptions {
  /** The size a manifest declared (descriptor-sizes.ts): sources that contradict it are refused. */
  readonly expectedSize?: number;
  readonly pace?: SourcePace;
  /** A fresh spool, to start over when a source's bytes failed verification. */
  readonly reopen?: () => Promise<BlobWriter>;
  readonly now?: () => number;
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
  private readonly pace: SourcePace;
  private readonly now: () => number;
  private readonly attempts: SourceAttempts;
  private readonly redial: UpstreamRedial;
  /** Bumped when the spool is thrown away and started over: readers of the old one are cut. */
  private spoolGeneration = 0;
  /** The sources whose bytes are in the current spool. */
  private readonly contributors = new Set<BlobSource>();
  private retriedWhole = false;
  /** Resolves with the blob's size once a source answered; rejects if none could. */
  readonly sized: Promise<number>;
  /** Resolves when the verified blob is committed to the cache. */
  readonly finished: Promise<StoredBlob>;

  constructor(
    private writer: BlobWriter,
    sources: readonly BlobSource[],
    private readonly logger: Logger,
    private readonly options: BlobDownloadOptions = {},
  ) {
    super();
    this.setMaxListeners(0);
    this.pace = options.pace ?? DEFAULT_SOURCE_PACE;
    this.now = options.now ?? Date.now;
    this.totalSize = options.expectedSize;
    this.attempts = new SourceAttempts(writer.digest.value, logger);
    this.redial = new UpstreamRedial(writer.digest.value, logger);
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

  /** Which spool readers are reading: a reader that saw an earlier one must not go on. */
  get generation(): number {
    return this.spoolGeneration;
  }

  get size(): number | undefined {
    return this.totalSize;
  }

  get source(): string {
    return this.currentSource;
  }

  /** Bytes received so far (spooled, or held in memory once the disk filled up). */
  get bytesWritten(): number {
    return this.passThrough ? this.passThrough.end : this.writer.bytesWritten;
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
    return this.passThrough ? this.passThrough.read(position, length) : this.writer.read(position, length);
  }

  /**
   * Resolves once the download settled or started over on a fresh spool (`generation` is the
   * spool the caller read). A commit that fails verification closes the spool a moment before
   * the download is marked failed: a reader whose read failed waits for this before it gives
   * up, so a client cut there and retrying at once starts a fresh download instead of joining
   * the dying one.
   */
  settledOrRestarted(generation: number): Promise<void> {
    if (this.state !== 'running' || this.spoolGeneration !== generation) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = (): void => {
        this.off('settled', done);
        this.off('progress', check);
        resolve();
      };
      const check = (): void => {
        if (this.spoolGeneration !== generation) done();
      };
      this.on('settled', done);
      this.on('progress', check);
    });
  }

  /** Stops the download (shutdown). Readers see an error, nothing is committed. */
  abort(reason: string): void {
    this.abortController.abort(new RegistryError('UNAVAILABLE', reason));
  }

  private async run(sources: readonly BlobSource[], resolveSized: (size: number) => void): Promise<StoredBlob> {
    let index = 0;
    // A source that broke after delivering bytes gets one resume (a Range request from
    // where it broke) before the next source is tried: a cut WAN connection is common,
    // and re-fetching what already arrived would waste the link we exist to spare.
    let resumed = false;
    while (index < sources.length && !this.abortController.signal.aborted) {
      const before = this.bytesWritten;
      const opening = await this.openSource(sources, index, before);
      if (!('source' in opening)) {
        index += opening.used;
        resumed = false;
        continue;
      }
      const { source, blob, used } = opening;
      let uncached = false;
      try {
        await this.copyFrom(source, blob, resolveSized);
        try {
          if (!this.passThrough) return await this.writer.commit();
          this.passThrough.verify();
        } catch (error) {
          if (hasCode(error, 'EINTEGRITY')) source.reportCorrupt?.();
          // Verified (commit checks the digest before it writes anything) but not storable.
          if (!isCannotSpool(error)) throw error;
        }
        uncached = true;
      } catch (error) {
        if (hasCode(error, 'EINTEGRITY')) {
          // The bytes readers already got were wrong; they are cut. With a known size the
          // download starts over from byte 0, so the requests still waiting (and every later
          // one) get correct bytes without a client retry: from this same source once when
          // the spool mixed several (which one lied is unknown), else from the next one.
          const mixed = this.contributors.size > 1 && !this.retriedWhole;
          if ((mixed || index + used < sources.length) && (await this.startOver(source))) {
            if (mixed) this.retriedWhole = true;
            else index += used;
            resumed = false;
            continue;
          }
          throw new RegistryError('UPSTREAM_ERROR', `${source.name} sent content that does not match ${this.digest}`);
        }
        this.noteFailure(source, error);
        const progressed = this.bytesWritten > before;
        // The last source, upstream, stalled or was cut: a fresh connection, until those are spent.
        const redial = index + used >= sources.length ? this.redial.decide(source, error, progressed, this.bytesWritten) : 'not-a-path-break';
        if (redial === 'again') continue;
        if (redial === 'spent') break;
        if (error instanceof SourceFault) {
          // Misbehaved (too slow, or a size that contradicts what we know): not resumed from.
          if (error.kind === 'size') source.reportCorrupt?.();
        } else if (progressed && !resumed) {
          resumed = true;
          continue;
        }
        index += used;
        resumed = false;
        continue;
      }
      if (uncached) return this.servedUncached();
    }
    if (this.abortController.signal.aborted) throw new RegistryError('UNAVAILABLE', 'download aborted');
    throw this.redial.gaveUp ?? this.attempts.exhausted();
  }

  private openSource(sources: readonly BlobSource[], index: number, offset: number): Promise<SourceOpening> {
    return openHedged(sources, index, offset, {
      digest: this.digest,
      hedgeAfterMs: this.pace.hedgeAfterMs,
      signal: this.abortController.signal,
      logger: this.logger,
      onFailure: (source, error) => this.noteFailure(source, error),
    });
  }

  private noteFailure(source: BlobSource, error: unknown): void {
    this.attempts.note(source, error, this.bytesWritten);
  }

  /**
   * Throws away the spool and starts again empty, for the next source. Only when the size is
   * known from a manifest (the size readers were promised cannot change) and a fresh spool
   * can be had. Readers that already received bytes are cut by their next read.
   */
  private async startOver(liar: BlobSource): Promise<boolean> {
    const reopen = this.options.reopen;
    if (!reopen || this.options.expectedSize === undefined || this.abortController.signal.aborted) return false;
    let fresh: BlobWriter;
    try {
      fresh = await reopen();
    } catch {
      return false;
    }
    this.logger.warn({ digest: this.digest, source: liar.name }, 'source sent content that does not match the digest: starting over from the next source');
    const old = this.writer;
    this.writer = fresh;
    this.passThrough = undefined;
    this.spoolGeneration += 1;
    this.contributors.clear();
    this.totalSize = this.options.expectedSize;
    void old.abort();
    this.emit('progress');
    return true;
  }

  private async copyFrom(source: BlobSource, opened: UpstreamBlob, resolveSized: (size: number) => void): Promise<void> {
    const offset = this.bytesWritten;
    if (opened.size !== undefined) {
      if (this.totalSize === undefined) {
        this.totalSize = opened.size;
      } else if (opened.size !== this.totalSize) {
        // Refused before a byte is read: a 1 GiB answer for a 1 MiB layer costs one header.
        opened.stream.destroy();
        throw new SourceFault('size', `${source.name} announces ${opened.size} bytes, the blob has ${this.totalSize}`);
      }
    }
    this.currentSource = source.name;
    if (this.totalSize !== undefined) resolveSized(this.totalSize);
    // A source that ignored our Range starts at 0: skip what the spool already has.
    const skip = offset - opened.offset;
    if (skip < 0) {
      opened.stream.destroy();
      throw new RegistryError('UPSTREAM_ERROR', `${source.name} resumed past the requested offset`);
    }
    const ending = await pumpSource(source.name, opened, {
      pace: this.pace,
      now: this.now,
      signal: this.abortController.signal,
      skip,
      room: () => (this.totalSize === undefined ? Infinity : this.totalSize - this.bytesWritten),
      write: async (chunk) => {
        this.contributors.add(source);
        await this.append(chunk);
        this.emit('progress');
      },
    });
    if (ending === 'overflowed') {
      // Cut one chunk past the size: what fitted is checked against the digest like any
      // other bytes (a source that appends junk to the right blob still served it), but the
      // source is avoided from now on.
      this.logger.warn({ digest: this.digest, source: source.name, size: this.totalSize }, 'source sent more than the blob\'s size: cut');
      source.reportCorrupt?.();
    }
    if (this.totalSize !== undefined && this.bytesWritten !== this.totalSize) {
      throw new RegistryError('UPSTREAM_ERROR', `${source.name} ended after ${this.bytesWritten} of ${this.totalSize} bytes`);
    }
    if (this.totalSize === undefined) {
      // No length announced: the size is whatever arrived (and the digest check decides).
      this.totalSize = this.bytesWritten;
      resolveSized(this.totalSize);
    }
  }

  /** Spools the chunk; when it cannot (disk full, spool bound), switches to feeding readers from memory instead. */
  private async append(chunk: Buffer): Promise<void> {
    if (!this.passThrough) {
      try {
        await this.writer.write(chunk);
        return;
      } catch (error) {
        if (!isCannotSpool(error)) throw error;
        const why = isDiskFull(error) ? 'disk full' : 'spool bound reached';
        this.logger.warn({ digest: this.digest, spooled: this.writer.bytesWritten, err: describeError(error) }, `${why}: serving this blob without caching it`);
        this.passThrough = await PassThrough.fromSpool(this.writer, this.digest);
      }
    }
    const passThrough = this.passThrough;
    if (!passThrough) return;
    await passThrough.append(chunk, this.abortController.signal);
  }

  /** Readers get every byte; `finished` rejects, so nothing is advertised as held. */
  private servedUncached(): never {
    this.settle('uncached');
    throw new RegistryError('UNAVAILABLE', `${this.digest} was served but not cached: the disk is full or the spool bound is reached`);
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
