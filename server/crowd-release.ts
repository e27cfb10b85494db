/** Far past a node's usual handful of runtimes and peers: this many open at once is a crowd. */
export const CROWD_CONNECTIONS = 128;
/** How long the listener must stay nearly empty before the crowd counts as gone. */
const QUIET_MS = 2_000;
const CHECK_EVERY_MS = 500;

/**
 * One collection does not give back all of it: V8 frees the memory behind collected buffers
 * afterwards, and a 1,500-connection crowd's buffers took three collections 2 s apart to go
 * (26, 13, then 3 MB left). So a crowd that left is collected this many times, QUIET_MS apart.
 */
const COLLECTIONS_PER_CROWD = 3;

/**
 * Tells `onGone` after a crowd of connections has left a listener (at most 1/16 of it still
 * open for QUIET_MS), COLLECTIONS_PER_CROWD times, so the node can collect what it left behind.
 *
 * Why: what a crowd's connections held (the chunk stuck on each socket, parsers, streams) is
 * garbage once they close, but V8 collects when JavaScript allocates, and a node left idle
 * after a crowd allocates almost nothing. Measured: 10 s after 1,500 stalled clients were
 * gone, 82 MB of their buffers were still uncollected and RSS sat at the crowd's peak.
 */
export class CrowdRelease {
  private peak = 0;
  private quietSince: number | undefined;
  /** Collections still owed to the crowd that left last. */
  private owed = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly openConnections: () => number,
    private readonly onGone: (peakConnections: number) => void,
    private readonly crowd = CROWD_CONNECTIONS,
    private readonly quietMs = QUIET_MS,
  ) {
    this.timer = setInterval(() => this.check(Date.now()), CHECK_EVERY_MS);
    this.timer.unref();
  }

  check(now: number): void {
    const open = this.openConnections();
    this.peak = Math.max(this.peak, open);
    if (this.peak < this.crowd || open > this.crowd / 16) {
      this.quietSince = undefined;
      return;
    }
    this.quietSince ??= now;
    if (now - this.quietSince < this.quietMs) return;
    const peak = this.peak;
    if (this.owed === 0) this.owed = COLLECTIONS_PER_CROWD;
    this.owed -= 1;
    // Quiet again from here: the next collection is owed QUIET_MS later.
    this.quietSince = now;
    if (this.owed === 0) {
      this.peak = open;
      this.quietSince = undefined;
    }
    this.onGone(peak);
  }

  close(): void {
    clearInterval(this.timer);
  }
}
