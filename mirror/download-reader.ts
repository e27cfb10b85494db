import { Readable } from 'node:stream';
import { pacedReadSize } from '../cache/paced-read-size.js';
import type { BlobDownload } from './blob-download.js';

/**
 * The read size for a client that keeps up: large enough for throughput, small enough that
 * memory stays flat with many readers. A client that has not shown its pace gets less.
 */
const CHUNK_BYTES = 256 * 1024;
/**
 * A download from a slow link grows a few kB at a time. Pushing each trickle on its own costs
 * a spool read and a socket write per TCP segment, which on a site of 8 nodes sharing 2 cores
 * is what limited the rollout. So a reader that is caught up waits for at least this much...
 */
const COALESCE_BYTES = 64 * 1024;
/** ...but never longer than this (a trickle still flows, at most this late). */
const COALESCE_MS = 10;

/**
 * Reads a growing download from `start` to `end` (inclusive), waiting for bytes as they land.
 * Reads only when the consumer asks (highWaterMark 0): a client that stops reading holds the
 * chunk it is stuck on, not a read-ahead buffer on top of it.
 */
export class DownloadReader extends Readable {
  private position: number;
  private delivered = 0;
  private reading = false;
  /** When this reader, caught up, started waiting for a batch to gather. */
  private waitingSince: number | undefined;
  /** The spool this reader reads; see BlobDownload.generation. */
  private generation: number;

  constructor(
    private readonly download: BlobDownload,
    private readonly start: number,
    private readonly end: number | undefined,
  ) {
    super({ highWaterMark: 0 });
    this.position = start;
    this.generation = download.generation;
  }

  override _read(): void {
    if (this.reading) return;
    this.reading = true;
    this.pump().then(
      () => {
        this.reading = false;
      },
      (error: unknown) => {
        // Cut only once the download says why (see BlobDownload.settledOrRestarted).
        void this.download.settledOrRestarted(this.generation).then(() => {
          this.reading = false;
          this.destroy(this.download.error ?? (error instanceof Error ? error : new Error(String(error))));
        });
      },
    );
  }

  private async pump(): Promise<void> {
    for (;;) {
      if (this.destroyed) return;
      if (this.download.generation !== this.generation) {
        // The download started over after a source failed verification: bytes this reader
        // already sent came from that source, so its response cannot be completed honestly.
        if (this.position > this.start) throw new Error('bytes already sent failed verification; the download started over');
        this.generation = this.download.generation;
      }
      const last = this.end ?? (this.download.isCommitted ? this.download.bytesWritten - 1 : Number.POSITIVE_INFINITY);
      if (this.position > last) {
        this.push(null);
        return;
      }
      const limit = Math.min(this.download.readableLimit, last + 1);
      if (this.position < limit && limit - this.position < Math.min(COALESCE_BYTES, last + 1 - this.position) && !this.download.isCommitted && !this.download.isFailed) {
        // Caught up with a running download: let a batch gather (bounded) before pushing.
        const deadline = (this.waitingSince ??= Date.now()) + COALESCE_MS;
        if (Date.now() < deadline) {
          await this.nextChange(deadline - Date.now());
          continue;
        }
      }
      this.waitingSince = undefined;
      if (this.position < limit) {
        const chunk = await this.download.readChunk(this.position, Math.min(pacedReadSize(this.delivered, CHUNK_BYTES), limit - this.position));
        if (chunk.length === 0) throw new Error('spool read returned no bytes');
        this.position += chunk.length;
        this.delivered += chunk.length;
        if (!this.push(chunk)) return;
        continue;
      }
      const failure = this.download.error;
      if (this.download.isFailed) throw failure ?? new Error('download failed');
      if (this.download.isCommitted) {
        // Committed but the range reaches past the blob: the caller validated the range
        // against the announced size, so this is a source that lied about it.
        throw new Error(`blob ended at ${this.download.bytesWritten} bytes, before the requested range`);
      }
      await this.nextChange();
    }
  }

  /** Waits for the download to grow or settle (or `timeoutMs`), leaving no listener behind. */
  private nextChange(timeoutMs?: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = timeoutMs === undefined ? undefined : setTimeout(() => wake(), timeoutMs);
      const wake = (): void => {
        clearTimeout(timer);
        this.download.off('progress', wake);
        this.download.off('settled', wake);
        resolve();
      };
      this.download.on('progress', wake);
      this.download.on('settled', wake);
    });
  }
}
