import type { Logger } from 'pino';
import type { CacheBudget } from './cache-budget.js';
import type { PinnedDigests } from './pins.js';

/**
 * A blob looked up by `stat` is about to be opened: it is not evicted for this long, so the
 * mirror's stat-then-open never finds the file gone in between.
 */
export const OPEN_GRACE_MS = 2_000;

/** What one eviction pass did (logged, and quoted by the benchmarks). */
export interface EvictionReport {
  readonly evicted: number;
  readonly freedBytes: number;
  readonly usedBytes: number;
  readonly candidates: number;
  readonly ms: number;
}

export interface EvictionCandidate {
  readonly size: number;
  readonly lastUsed: number;
  /** Last `stat` hit: see OPEN_GRACE_MS. */
  readonly statAt: number;
}

/** The store a pass works on: its live inventory, and what may not be touched right now. */
export interface EvictionHost {
  usedBytes(): number;
  entries(): Array<[string, EvictionCandidate]>;
  /** The entry as it is now (a different object means it was replaced meanwhile). */
  current(digest: string): EvictionCandidate | undefined;
  /** Being read, written or removed. */
  isBusy(digest: string): boolean;
  /** Removes the blob; rejects when it could not. */
  evict(digest: string): Promise<void>;
  now(): number;
  readonly logger: Logger;
  readonly pins?: PinnedDigests;
}

/**
 * One least-recently-used pass down to the low-water mark. Pinned, busy and about-to-be-opened
 * blobs are skipped; `retryAfterGrace` says only the last kind kept the cache over budget.
 */
export async function runEvictionPass(host: EvictionHost, budget: CacheBudget): Promise<{ report?: EvictionReport; retryAfterGrace: boolean }> {
  if (host.usedBytes() <= budget.maxBytes) return { retryAfterGrace: false };
  const started = performance.now();
  const pinned = (await host.pins?.pinnedDigests().catch((error: unknown) => {
    // Unreadable pins: evicting a pinned image would break a promise, so evict nothing.
    host.logger.error({ err: String(error) }, 'pins unreadable: eviction skipped');
    return undefined;
  })) ?? (host.pins ? undefined : new Set<string>());
  if (!pinned) return { retryAfterGrace: false };
  const now = host.now();
  let protectedByGrace = false;
  const candidates = host
    .entries()
    .filter(([digest, entry]) => {
      if (pinned.has(digest) || host.isBusy(digest)) return false;
      if (now - entry.statAt < OPEN_GRACE_MS) {
        protectedByGrace = true;
        return false;
      }
      return true;
    })
    .sort(([, a], [, b]) => a.lastUsed - b.lastUsed);
  let evicted = 0;
  let freedBytes = 0;
  for (const [digest, entry] of candidates) {
    if (host.usedBytes() <= budget.lowWaterBytes) break;
    // Re-checked after every await: a reader may have arrived meanwhile.
    if (host.isBusy(digest) || host.current(digest) !== entry || host.now() - entry.statAt < OPEN_GRACE_MS) continue;
    try {
      await host.evict(digest);
    } catch (error) {
      host.logger.warn({ digest, err: String(error) }, 'could not evict a blob');
      continue;
    }
    evicted += 1;
    freedBytes += entry.size;
  }
  const report = { evicted, freedBytes, usedBytes: host.usedBytes(), candidates: candidates.length, ms: performance.now() - started };
  host.logger.info({ ...report, maxBytes: budget.maxBytes, lowWaterBytes: budget.lowWaterBytes }, 'cache eviction');
  const over = host.usedBytes() > budget.maxBytes;
  if (over && !protectedByGrace) {
    host.logger.warn({ usedBytes: host.usedBytes(), maxBytes: budget.maxBytes }, 'cache over budget: the rest is pinned or in use');
  }
  return { report, retryAfterGrace: over && protectedByGrace };
}
