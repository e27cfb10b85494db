import { SMALL_READ_BYTES } from './paced-read-size.js';

/**
 * What all open blob reads of one store may hold in large read chunks together. A reader
 * that keeps up gets large reads (fewer thread-pool round trips), and each one holds a chunk
 * on its socket: 200 readers at 1 MiB each held 200 MiB plus what the collector had not yet
 * freed (441 MB peak RSS, BENCHMARKS.md). A few readers still get the full size; many share.
 */
export const DEFAULT_READ_BUDGET_BYTES = 32 * 1024 * 1024;

export class ReadBudget {
  private open = 0;

  constructor(private readonly totalBytes = DEFAULT_READ_BUDGET_BYTES) {}

  /** Counts one more read in the shares; the returned function ends it (once). */
  enter(): () => void {
    this.open += 1;
    let left = false;
    return () => {
      if (left) return;
      left = true;
      this.open -= 1;
    };
  }

  /**
   * One reader's large read size now: its share of the budget, rounded down to a power of two
   * (reads stay aligned), never above `maxBytes` nor below the small reads every reader gets.
   */
  largeReadBytes(maxBytes: number): number {
    const share = this.totalBytes / Math.max(1, this.open);
    const aligned = 2 ** Math.floor(Math.log2(Math.max(1, share)));
    return Math.min(maxBytes, Math.max(SMALL_READ_BYTES, aligned));
  }
}
