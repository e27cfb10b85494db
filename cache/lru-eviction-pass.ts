import pMap from 'p-map';
import type { Logger } from 'pino';
import type { CacheBudget } from './cache-budget.js';
import type { PinnedDigests } from './pins.js';

/**
 * A blob looked up by `stat` is about to be opened: it is not evicted for this long, so the
 * mirror's stat-then-open never finds the file gone in between.
 */
export const OPEN_GRACE_MS = 2_000;

/**
 * Blobs removed at once. One at a time, a removal's three file operations queue behind every
 * serve's reads in libuv's pool: the 30-minute soak evicted 6 blobs a second while 40 arrived,
 * and the cache grew to almost four times its budget. A few in flight keep eviction ahead of income.
 */
export const EVICTION_CONCURRENCY = 8;

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
  /** Removes the blob (busy from the call on, before its first await); rejects when it could not. */
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
  // Bytes whose removal is under way: counted as gone, so the pass stops launching at the
  // low-water mark instead of overshooting it by the removals in flight.
  let removingBytes = 0;
  // A reader may have arrived since the snapshot.
  const stillEvictable = (digest: string, entry: EvictionCandidate): boolean =>
    !host.isBusy(digest) && host.current(digest) === entry && host.now() - entry.statAt >= OPEN_GRACE_MS;
  function* evictable(): Generator<[string, EvictionCandidate]> {
    for (const [digest, entry] of candidates) {
      if (host.usedBytes() - removingBytes <= budget.lowWaterBytes) return;
      if (!stillEvictable(digest, entry)) continue;
      removingBytes += entry.size;
      yield [digest, entry];
    }
  }
  await pMap(
    evictable(),
    async ([digest, entry]) => {
      try {
        // Checked again in the same tick as the removal starts (`evict` marks the blob as being
        // removed before its first await): p-map hands an item over a few microtasks after the
        // generator passed it, and a `stat` landing in between must either see the removal or
        // keep the blob.
        if (!stillEvictable(digest, entry)) return;
        await host.evict(digest);
        evicted += 1;
        freedBytes += entry.size;
      } catch (error) {
        host.logger.warn({ digest, err: String(error) }, 'could not evict a blob');
      } finally {
        removingBytes -= entry.size;
      }
    },
    { concurrency: EVICTION_CONCURRENCY },
  );
  const report = { evicted, freedBytes, usedBytes: host.usedBytes(), candidates: candidates.length, ms: performance.now() - started };
  host.logger.info({ ...report, maxBytes: budget.maxBytes, lowWaterBytes: budget.lowWaterBytes }, 'cache eviction');
  const over = host.usedBytes() > budget.maxBytes;
  // Over budget after evicting something means blobs arrived during the pass: the scheduler
  // runs another. Only a pass that could evict nothing is held up by pins and readers.
  if (over && evicted === 0 && !protectedByGrace) {
    host.logger.warn({ usedBytes: host.usedBytes(), maxBytes: budget.maxBytes }, 'cache over budget: the rest is pinned or in use');
  }
  return { report, retryAfterGrace: over && protectedByGrace };
}
