import type { Peer } from '../discovery/peer-discovery.js';
import type { ContentSource } from '../mirror/mirror-results.js';
import type { CacheUsage } from './metrics-cache-usage.js';
import type { MetricsSnapshot } from './metrics.js';
import type { ServedRequest } from './metrics-served-request.js';
import { PeerStates } from './status-peers.js';
import { RecentManifests, type RecentManifest } from './recent-manifests.js';
import { RecentPulls } from './status-recent-pulls.js';
import type { StatusSnapshot } from './status-snapshot.js';
import type { PeerStatus } from './status-peers.js';

export interface StatusBoardOptions {
  readonly nodeId: () => string;
  readonly metrics: () => MetricsSnapshot;
  readonly cacheUsage: () => Promise<CacheUsage>;
  readonly inflightDownloads: () => number;
  /** How many recent pulls to keep. Default 50. */
  readonly recentPulls?: number;
  readonly now?: () => number;
}

/** Collects what the status page shows: recent pulls, peer transitions, and the totals. */
export class StatusBoard {
  private readonly pulls: RecentPulls;
  private readonly peers: PeerStates;
  private readonly manifests = new RecentManifests();
  private readonly startedAt: number;

  constructor(private readonly options: StatusBoardOptions) {
    this.pulls = new RecentPulls(options.recentPulls ?? 50);
    this.peers = new PeerStates(50, options.now ?? Date.now);
    this.startedAt = (options.now ?? Date.now)();
  }

  requestServed(request: ServedRequest): void {
    this.pulls.record(request);
    this.manifests.record(request);
  }

  /** Manifests local clients pulled lately, newest first (the site view's images). */
  recentManifests(): RecentManifest[] {
    return this.manifests.list();
  }

  /** Every peer seen, up or down: the site view lists down members too. */
  knownPeers(): PeerStatus[] {
    return this.peers.list();
  }

  peerChanged(peer: Peer, state: 'up' | 'down'): void {
    this.peers.changed(peer, state);
  }

  async snapshot(): Promise<StatusSnapshot> {
    const now = (this.options.now ?? Date.now)();
    const usage = await this.options.cacheUsage();
    const metrics = this.options.metrics();
    const recentPulls = this.pulls.list();
    const recentBytes: Record<ContentSource, number> = { cache: 0, inflight: 0, peer: 0, upstream: 0 };
    for (const pull of recentPulls) if (pull.source) recentBytes[pull.source] += pull.bytes;
    return {
      node: { id: this.options.nodeId(), startedAt: new Date(this.startedAt).toISOString(), uptimeSeconds: Math.round((now - this.startedAt) / 1000) },
      cache: {
        usedBytes: usage.usedBytes,
        blobs: usage.blobs,
        budgetBytes: usage.budgetBytes,
        usedShare: usage.budgetBytes ? usage.usedBytes / usage.budgetBytes : null,
        hitRatio: metrics.hitRatio,
        evictions: metrics.evictions,
      },
      inflightDownloads: this.options.inflightDownloads(),
      upstream: { requests: metrics.upstreamRequests, errors: metrics.upstreamErrors },
      totals: { requests: metrics.requests, bytes: metrics.bytes },
      peers: this.peers.list(),
      recentPulls,
      recentBytes,
    };
  }
}
