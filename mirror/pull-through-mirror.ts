import type { Logger } from 'pino';
import type { BlobStore } from '../cache/blob-store.js';
import { MemoryReferrersStore } from '../cache/memory-referrers-store.js';
import type { ReferrersStore } from '../cache/referrers-store.js';
import type { TagStore } from '../cache/tag-store.js';
import type { Digest } from '../oci/digest.js';
import type { ManifestReference } from '../oci/parse-request-path.js';
import { BlobMirror } from './blob-mirror.js';
import { DescriptorSizes } from './descriptor-sizes.js';
import { ManifestMirror } from './manifest-mirror.js';
import type { BlobHandle, BlobRedirect, ContentSource, InflightDownload, ManifestResult } from './mirror-results.js';
import type { PrivateContent } from './private-content.js';
import type { HoldingsListener, PeerSourceProvider } from './peer-source-provider.js';
import type { RegistryRoute } from './registry-router.js';
import { ReferrersMirror, type ReferrersResult } from './referrers-mirror.js';
import type { RequestOrigin } from './request-origin.js';
import type { SourcePace } from './source-pace.js';
import { TagListMirror, type TagListMemberSource, type TagListResult } from './tag-list-mirror.js';
import type { TagPageRequest } from './tag-page.js';

export interface PullThroughMirrorOptions {
  readonly store: BlobStore;
  readonly tags: TagStore;
  readonly logger: Logger;
  /** How long a tag lookup waits for upstream before the last known mapping is used. */
  readonly tagTimeoutMs: number;
  readonly peers?: PeerSourceProvider;
  /** `redirect` sends local clients to the peer that has (or owns) a blob; `proxy` streams it. */
  readonly peerMode?: 'proxy' | 'redirect';
  readonly holdings?: HoldingsListener;
  /** Remembers what was fetched with credentials, so an open site never shares it. */
  readonly privateContent?: PrivateContent;
  /** Keeps referrers lists for offline answers; default: in memory only. */
  readonly referrers?: ReferrersStore;
  /** Site members asked for tags when upstream and this node know none (site membership; unset for now). */
  readonly tagMembers?: TagListMemberSource;
  /** How fast a blob source must deliver (stall, floor, hedge); defaults in source-pace.ts. */
  readonly pace?: SourcePace;
}

/**
 * The HTTP-agnostic pull-through core, the one object the server talks to: blobs,
 * manifests, tag lists and referrers over one store, one peer view and one holdings listener.
 */
export class PullThroughMirror {
  private readonly blobs: BlobMirror;
  private readonly manifests: ManifestMirror;
  private readonly tagLists: TagListMirror;
  private readonly referrerLists: ReferrersMirror;
  /** Learnt from every manifest served, read by every download (descriptor-sizes.ts). */
  private readonly sizes = new DescriptorSizes();

  constructor(options: PullThroughMirrorOptions) {
    this.blobs = new BlobMirror({ ...options, sizes: this.sizes });
    this.manifests = new ManifestMirror(options);
    const listing = { logger: options.logger, timeoutMs: options.tagTimeoutMs };
    this.tagLists = new TagListMirror({ ...listing, tags: options.tags, ...(options.tagMembers ? { members: options.tagMembers } : {}) });
    this.referrerLists = new ReferrersMirror({ ...listing, referrers: options.referrers ?? new MemoryReferrersStore() });
  }

  /** Downloads currently running, by digest (for metrics and status). */
  get activeDownloads(): number {
    return this.blobs.activeDownloads;
  }

  /** The running downloads with their progress (site view). */
  downloadsInFlight(): InflightDownload[] {
    return this.blobs.downloadsInFlight();
  }

  openBlob(route: RegistryRoute, digest: Digest, origin: RequestOrigin): Promise<BlobHandle | BlobRedirect> {
    return this.blobs.openBlob(route, digest, origin);
  }

  statBlob(route: RegistryRoute, digest: Digest, origin: RequestOrigin): Promise<{ size: number; source: ContentSource }> {
    return this.blobs.statBlob(route, digest, origin);
  }

  async getManifest(route: RegistryRoute, reference: ManifestReference, options: RequestOrigin & { method: 'GET' | 'HEAD' }): Promise<ManifestResult> {
    const result = await this.manifests.getManifest(route, reference, options);
    if (result.body) this.sizes.learn(result.digest, result.body);
    return result;
  }

  listTags(route: RegistryRoute, request: TagPageRequest, origin: RequestOrigin): Promise<TagListResult> {
    return this.tagLists.listTags(route, request, origin);
  }

  referrers(route: RegistryRoute, subject: Digest, artifactType: string | undefined, origin: RequestOrigin): Promise<ReferrersResult> {
    return this.referrerLists.referrers(route, subject, artifactType, origin);
  }

  /** Stops every running download (shutdown). */
  abortAll(reason: string): void {
    this.blobs.abortAll(reason);
  }
}
