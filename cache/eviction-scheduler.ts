import type { CacheBudget } from './cache-budget.js';
import { OPEN_GRACE_MS, runEvictionPass, type EvictionHost, type EvictionReport } from './lru-eviction-pass.js';

/**
 * Runs eviction passes beside serving, never in front of it: one pass at a time, a change
 * during a pass asks for one more, and a pass held up only by blobs about to be opened is
 * tried again after their grace.
 */
export class EvictionScheduler {
  private evicting: Promise<void> | undefined;
  private evictAgain = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private lastReport: EvictionReport | undefined;

  constructor(
    private readonly host: EvictionHost,
    /** Absent: no limit, nothing is ever evicted. */
    private readonly budget: CacheBudget | undefined,
  ) {}

  get lastEviction(): EvictionReport | undefined {
    return this.lastReport;
  }

  /** Starts a pass unless one runs; a running pass is told to run once more. */
  schedule(): void {
    const budget = this.budget;
    if (!budget || this.host.usedBytes() <= budget.maxBytes) return;
    if (this.evicting) {
      this.evictAgain = true;
      return;
    }
    this.evicting = (async () => {
      try {
        for (let pass = 0; pass < 10; pass += 1) {
          this.evictAgain = false;
          await this.pass(budget);
          if (!this.evictAgain) break;
        }
      } catch (error) {
        this.host.logger.error({ err: String(error) }, 'eviction failed');
      } finally {
        this.evicting = undefined;
      }
    })();
  }

  /** Resolves when no eviction pass is running or queued. */
  async idle(): Promise<void> {
    for (let round = 0; round < 100 && this.evicting; round += 1) await this.evicting;
  }

  /** Cancels the retry after the grace; a running pass is left to finish (`idle`). */
  stop(): void {
    clearTimeout(this.retryTimer);
  }

  private async pass(budget: CacheBudget): Promise<void> {
    const outcome = await runEvictionPass(this.host, budget);
    if (outcome.report) this.lastReport = outcome.report;
    if (outcome.retryAfterGrace) {
      // Only blobs about to be served stand in the way: try again once they are open.
      clearTimeout(this.retryTimer);
      this.retryTimer = setTimeout(() => this.schedule(), OPEN_GRACE_MS).unref();
    }
  }
}
