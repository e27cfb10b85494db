import { statfs } from 'node:fs/promises';
import type { BlobStore } from '../cache/blob-store.js';
import type { CacheMaxSize } from '../config/parse-size.js';

/** How full the cache is, against its budget. */
export interface CacheUsage {
  readonly usedBytes: number;
  readonly blobs: number;
  /** null: no budget (unlimited). */
  readonly budgetBytes: number | null;
}


export interface CacheUsageSamplerOptions {
  readonly store: Pick<BlobStore, 'list'>;
  readonly cacheDir: string;
  /** The budget as configured: bytes, a share of the cache disk, or none. */
  readonly budget: CacheMaxSize;
  /** A running tally kept by the store itself; when given, the store is never listed. */
  readonly tally?: () => { readonly usedBytes: number; readonly blobs: number };
  /** A sample younger than this is reused: listing a large cache is not free. Default 10 s. */
  readonly maxAgeMs?: number;
  readonly now?: () => number;
}

/**
 * Measures cache use from the store's own tally, else by listing the store; either at most
 * once per `maxAgeMs` however often `/metrics` and the status page ask (concurrent callers
 * share one measurement).
 */
export class CacheUsageSampler {
  private sample: { at: number; usage: CacheUsage } | undefined;
  private pending: Promise<CacheUsage> | undefined;

  constructor(private readonly options: CacheUsageSamplerOptions) {}

  current(): Promise<CacheUsage> {
    const now = (this.options.now ?? Date.now)();
    if (this.sample && now - this.sample.at < (this.options.maxAgeMs ?? 10_000)) return Promise.resolve(this.sample.usage);
    this.pending ??= this.measure()
      .then((usage) => {
        this.sample = { at: (this.options.now ?? Date.now)(), usage };
        return usage;
      })
      .finally(() => {
        this.pending = undefined;
      });
    return this.pending;
  }

  private async measure(): Promise<CacheUsage> {
    const tally = this.options.tally?.();
    if (tally) return { ...tally, budgetBytes: await this.budgetBytes() };
    let usedBytes = 0;
    let blobs = 0;
    for await (const blob of this.options.store.list()) {
      usedBytes += blob.size;
      blobs += 1;
    }
    return { usedBytes, blobs, budgetBytes: await this.budgetBytes() };
  }

  private async budgetBytes(): Promise<number | null> {
    const budget = this.options.budget;
    if (budget.kind === 'unlimited') return null;
    if (budget.kind === 'bytes') return budget.bytes;
    const disk = await statfs(this.options.cacheDir);
    return Math.floor((disk.blocks * disk.bsize * budget.percent) / 100);
  }
}
