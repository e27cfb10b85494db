import type { ContentSource } from '../mirror/mirror-results.js';
import type { UpstreamObserver } from '../upstream/got-registry-client.js';
import type { ServedRequest } from './metrics-served-request.js';

/**
 * What the rest of the node reports to metrics. Narrow on purpose: the cache layer only
 * needs `cacheEvicted`, the upstream client only `upstreamResponse`, discovery only
 * `peerChanged`. `PrometheusMetrics` implements it; a test may pass its own.
 */
export interface Metrics extends UpstreamObserver {
  /** One finished HTTP request (from the request-log middleware). */
  requestServed(request: ServedRequest): void;
  /** The cache evicted `blobs` entries holding `bytes` bytes (least recently used first). */
  cacheEvicted(blobs: number, bytes: number): void;
  /** A peer went up or down (once per transition, as discovery reports it). */
  peerChanged(change: 'up' | 'down'): void;
}

/** Totals since start, for the status page (the same numbers `/metrics` exposes). */
export interface MetricsSnapshot {
  readonly requests: Readonly<Record<ContentSource, number>>;
  readonly bytes: Readonly<Record<ContentSource, number>>;
  /** Share of blob GETs answered from this node's cache; null before the first one. */
  readonly hitRatio: number | null;
  readonly evictions: number;
  readonly evictedBytes: number;
  readonly upstreamRequests: number;
  readonly upstreamErrors: number;
  /** Body bytes received from upstream registries (the WAN bytes), every registry together. */
  readonly upstreamBytes: number;
}
