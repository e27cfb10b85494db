import { SourceFault } from './source-fault.js';

/** How fast a blob source must deliver before the download gives up on it. */
export interface SourcePace {
  /** A source that delivers no byte for this long is dropped. */
  readonly stallMs: number;
  /** A source averaging less than this over `rateWindowMs` is dropped (0: no floor). */
  readonly minBytesPerSecond: number;
  readonly rateWindowMs: number;
  /** A peer that has not answered within this is raced by the next peer (0: never hedge). */
  readonly hedgeAfterMs: number;
}

/**
 * Far below a healthy link: 50 Mbit/s shared by 30 parallel layer downloads is still ~200 kB/s
 * each, a slow peer on a busy LAN more. What they catch is a source that trickles (one byte
 * every 20 s kept a download alive forever when only the socket's idle timer watched it).
 */
export const DEFAULT_SOURCE_PACE: SourcePace = {
  stallMs: 10_000,
  minBytesPerSecond: 16 * 1024,
  rateWindowMs: 20_000,
  hedgeAfterMs: 1_000,
};

/**
 * Watches one source's stream: calls `drop` once when it stalls or falls below the floor.
 * Time spent waiting on our side (disk writes, readers that hold the source back) is paused
 * out, so only the source's own slowness counts.
 */
export class PaceWatch {
  private lastByteAt: number;
  private windowStart: number;
  private windowBytes = 0;
  private pausedAt: number | undefined;
  private readonly timer: NodeJS.Timeout;
  private stopped = false;

  constructor(
    private readonly pace: SourcePace,
    private readonly drop: (error: SourceFault) => void,
    private readonly now: () => number = Date.now,
  ) {
    this.lastByteAt = this.windowStart = now();
    const shortest = pace.minBytesPerSecond > 0 ? Math.min(pace.stallMs, pace.rateWindowMs) : pace.stallMs;
    // Checked a few times per window: the drop comes at most a quarter window late.
    this.timer = setInterval(() => this.check(), Math.max(10, Math.min(1_000, Math.floor(shortest / 4))));
    this.timer.unref();
  }

  received(bytes: number): void {
    this.lastByteAt = this.now();
    this.windowBytes += bytes;
  }

  /** Our side is busy (writing, or waiting for readers): the source is not to blame meanwhile. */
  pause(): void {
    this.pausedAt ??= this.now();
  }

  resume(): void {
    if (this.pausedAt === undefined) return;
    const paused = this.now() - this.pausedAt;
    this.pausedAt = undefined;
    this.lastByteAt += paused;
    this.windowStart += paused;
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
  }

  /** Public so a test with an injected clock can step it without waiting for the interval. */
  check(): void {
    if (this.stopped || this.pausedAt !== undefined) return;
    const now = this.now();
    if (now - this.lastByteAt >= this.pace.stallMs) {
      this.fail(new SourceFault('slow', `no byte for ${now - this.lastByteAt} ms`));
      return;
    }
    const elapsed = now - this.windowStart;
    if (this.pace.minBytesPerSecond <= 0 || elapsed < this.pace.rateWindowMs) return;
    const rate = (this.windowBytes * 1000) / elapsed;
    if (rate < this.pace.minBytesPerSecond) {
      this.fail(new SourceFault('slow', `${Math.round(rate)} B/s over ${elapsed} ms, below the floor of ${this.pace.minBytesPerSecond} B/s`));
      return;
    }
    this.windowStart = now;
    this.windowBytes = 0;
  }

  private fail(error: SourceFault): void {
    this.stop();
    this.drop(error);
  }
}
