import type { Logger } from 'pino';
import type { BlobStore } from '../cache/blob-store.js';
import { PinFile } from '../cache/pins.js';
import type { Peer } from '../discovery/peer-discovery.js';
import type { InflightDownload } from '../mirror/mirror-results.js';
import type { PeerClient } from '../peer/peer-client.js';
import type { MemberSummary } from '../peer/site-summary.js';
import type { MetricsSnapshot } from '../server/metrics.js';
import { MemberSummaryBuilder } from '../server/site-member-summary.js';
import { SitePrefetchJobs } from '../server/site-prefetch-jobs.js';
import { SiteView } from '../server/site-view.js';
import type { StatusBoard } from '../server/status-board.js';
import { formatImageReference, parseImageReference } from './commands/image-reference.js';
import { prefetchImage } from './commands/prefetch-image.js';

/** The least a member is given to answer a site-view question (a dead one shows as down after it). */
export const SITE_SUMMARY_MIN_TIMEOUT_MS = 2_000;

export interface NodeSiteViewContext {
  readonly cacheDir: string;
  readonly peerTimeoutMs: number;
  readonly keyed: boolean;
  readonly nodeId: () => string;
  readonly status: StatusBoard;
  readonly metrics: () => MetricsSnapshot;
  readonly downloads: () => InflightDownload[];
  readonly store: BlobStore;
  readonly livePeers: () => Peer[];
  /** The client that asks members (built once the node knows its peer agent). */
  readonly siteClient: () => PeerClient;
  /** This node's own client API, as a local process reaches it. */
  readonly loopbackUrl: () => string;
  readonly logger: Logger;
}

/** What one node contributes to the site view: its own summary, its prefetch jobs, and the view across members. */
export interface NodeSiteView {
  readonly view: SiteView;
  readonly summary: (holds: readonly string[]) => Promise<MemberSummary>;
  readonly prefetch: (image: string, pin: boolean) => string;
}

export function createNodeSiteView(context: NodeSiteViewContext): NodeSiteView {
  const summaries = new MemberSummaryBuilder({
    board: context.status,
    metrics: context.metrics,
    downloads: context.downloads,
    store: context.store,
    prefetches: () => prefetches.list(),
  });
  // A site prefetch pulls through this node's own client API, exactly as a runtime would:
  // local cache, then the digest's owner or a holder, then upstream once for the site.
  const prefetches = new SitePrefetchJobs({
    normalise: (text) => formatImageReference(parseImageReference(text)),
    run: async ({ image, pin }, progress) => {
      await prefetchImage({ image: parseImageReference(image), mirror: context.loopbackUrl(), progress, ...(pin ? { pins: new PinFile(context.cacheDir) } : {}) });
    },
    logger: context.logger.child({ component: 'site-prefetch' }),
  });
  const summary = (holds: readonly string[]): Promise<MemberSummary> => summaries.build(holds);
  const prefetch = (image: string, pin: boolean): string => prefetches.start(image, pin);
  const view = new SiteView({
    keyed: context.keyed,
    selfId: context.nodeId,
    selfSummary: summary,
    livePeers: context.livePeers,
    knownPeers: () => context.status.knownPeers(),
    client: {
      fetchSiteSummary: (peer, holds, signal) => context.siteClient().fetchSiteSummary(peer, holds, signal),
      requestPrefetch: (peer, request, signal) => context.siteClient().requestPrefetch(peer, request, signal),
    },
    // Not a pull's hot path: a busy member gets longer than --peer-timeout to answer.
    timeoutMs: Math.max(context.peerTimeoutMs, SITE_SUMMARY_MIN_TIMEOUT_MS),
    prefetchHere: prefetch,
  });
  return { view, summary, prefetch };
}
