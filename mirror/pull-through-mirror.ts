import { MemoryReferrersStore } from '../cache/memory-referrers-store.js';
import type { ReferrersStore } from '../cache/referrers-store.js';
import type { Digest } from '../oci/digest.js';
import type { ManifestReference } from '../oci/parse-request-path.js';
import { BlobMirror, type BlobMirrorOptions } from './blob-mirror.js';
import { DescriptorSizes } from './descriptor-sizes.js';
import { ManifestMirror, type ManifestMirrorOptions } from './manifest-mirror.js';
import type { BlobHandle, BlobRedirect, ContentSource, InflightDownload, ManifestResult } from './mirror-results.js';
import type { RegistryRoute } from './registry-router.js';
import { ReferrersMirror, type ReferrersResult } from './referrers-mirror.js';
import type { RequestOrigin } from './request-origin.js';
import { TagListMirror, type TagListMemberSource, type TagListResult } from './tag-list-mirror.js';
import type { TagPageRequest } from './tag-page.js';

/** What the façade is built from: what its blob and manifest parts take, plus the tag lists' and referrers' own. */
export interface PullThroughMirrorOptions extends ManifestMirrorOptions, Omit<BlobMirrorOptions, 'sizes'> {
  /** Keeps referrers lists for offline answers; default: in memory only. */
  readonly referrers?: ReferrersStore;
  /** Site members asked for tags when upstream and this node know none (site membership; unset for now). */
  readonly tagMembers?: TagListMemberSource;
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
