import type { ContentSource } from '../mirror/mirror-results.js';
import type { PeerStatus } from './status-peers.js';
import type { RecentPull } from './status-recent-pulls.js';

/** What `/status.json` answers, and what the status page and `edgepier status` show. */
export interface StatusSnapshot {
  readonly node: {
    readonly id: string;
    /** ISO time the node started. */
    readonly startedAt: string;
    readonly uptimeSeconds: number;
  };
  readonly cache: {
    readonly usedBytes: number;
    readonly blobs: number;
    /** null: unlimited. */
    readonly budgetBytes: number | null;
    /** usedBytes / budgetBytes, or null without a budget. */
    readonly usedShare: number | null;
    /** Share of blob GETs since start answered from the cache; null before the first. */
    readonly hitRatio: number | null;
    readonly evictions: number;
  };
  readonly inflightDownloads: number;
  readonly upstream: { readonly requests: number; readonly errors: number };
  /** Since start: requests and bytes by where the bytes came from. */
  readonly totals: {
    readonly requests: Readonly<Record<ContentSource, number>>;
    readonly bytes: Readonly<Record<ContentSource, number>>;
  };
  readonly peers: readonly PeerStatus[];
  /** Newest first. */
  readonly recentPulls: readonly RecentPull[];
  /** Bytes of the recent pulls, by where they came from. */
  readonly recentBytes: Readonly<Record<ContentSource, number>>;
}
