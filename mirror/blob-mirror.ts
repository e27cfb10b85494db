import type { Logger } from 'pino';
import type { BlobStore } from '../cache/blob-store.js';
import type { Digest } from '../oci/digest.js';
import { OciError } from '../oci/oci-error.js';
import { BlobDownload } from './blob-download.js';
import type { BlobSource } from './blob-source.js';
import type { DescriptorSizes } from './descriptor-sizes.js';
import type { SourcePace } from './source-pace.js';
import type { BlobHandle, BlobRedirect, ContentSource } from './mirror-results.js';
import type { PrivateContent } from './private-content.js';
import type { HoldingsListener, PeerSourceOptions, PeerSourceProvider } from './peer-source-provider.js';
import type { RegistryRoute } from './registry-router.js';
import type { RequestOrigin } from './request-origin.js';

export interface BlobMirrorOptions {
  readonly store: BlobStore;
  readonly logger: Logger;
  readonly peers?: PeerSourceProvider;
  /** `redirect` sends local clients to the peer that has (or owns) a blob; `proxy` streams it. */
  readonly peerMode?: 'proxy' | 'redirect';
  readonly holdings?: HoldingsListener;
  readonly privateContent?: PrivateContent;
  /** Sizes manifests declared, so a download knows its size before the first byte. */
  readonly sizes?: DescriptorSizes;
  /** How fast a source must deliver (stall, floor, hedge); defaults in source-pace.ts. */
  readonly pace?: SourcePace;
}

/**
 * Blobs through the mirror (distribution's proxyblobstore): local cache, then a download in
 * progress, then peers, then upstream, with every byte verified before it is committed. One
 * download per digest at a time, however many requests want it (the `downloads` map is the
 * dedupe).
 */
export class BlobMirror {
  private readonly downloads = new Map<string, BlobDownload>();
  /** Downloads between "decided to fetch" and "download object exists" (peer lookup, spool open). */
  private readonly starting = new Map<string, Promise<BlobDownload>>();

  constructor(private readonly options: BlobMirrorOptions) {}

  /** Downloads currently running, by digest (for metrics and status). */
  get activeDownloads(): number {
    return this.downloads.size;
  }

  async openBlob(route: RegistryRoute, digest: Digest, origin: RequestOrigin): Promise<BlobHandle | BlobRedirect> {
    this.refusePrivate(digest, origin);
    const running = this.joinable(digest);
    if (running) return this.join(running, true);
    const stored = await this.options.store.stat(digest);
    if (stored) return this.cached(digest, stored.size);
    const raced = this.joinable(digest);
    if (raced) return this.join(raced, true);
    if (origin.fromPeer && !origin.ownerFetch) throw blobUnknown(digest);
    if (!origin.fromPeer && this.options.peerMode === 'redirect' && this.options.peers) {
      const redirect = await this.options.peers.redirectTarget(route, digest);
      if (redirect) return { redirect };
    }
    // A peer asking the owner may make it consult nodes that hold the committed blob, then
    // upstream; never another owner, so a request travels at most two hops and cannot loop.
    // Whoever finds a start already under way joins it, like a running download.
    const joining = this.starting.has(digest.value);
    return this.join(await this.startDownload(route, digest, { peers: origin.fromPeer ? 'holders' : 'all', ...(origin.peerId ? { exclude: origin.peerId } : {}) }), joining);
  }

  async statBlob(route: RegistryRoute, digest: Digest, origin: RequestOrigin): Promise<{ size: number; source: ContentSource }> {
    this.refusePrivate(digest, origin);
    const running = this.joinable(digest);
    if (running) return { size: await running.sized, source: 'inflight' };
    const stored = await this.options.store.stat(digest);
    if (stored) return { size: stored.size, source: 'cache' };
    if (origin.fromPeer && !origin.ownerFetch) throw blobUnknown(digest);
    const { size } = await route.client.headBlob(route.repository, digest.value);
    return { size, source: 'upstream' };
  }

  /** Content fetched with credentials is unknown to an asker that is not a proven member. */
  private refusePrivate(digest: Digest, origin: RequestOrigin): void {
    if (origin.publicOnly && this.options.privateContent?.isPrivate(digest.value)) throw blobUnknown(digest);
  }

  /** Stops every running download (shutdown). */
  abortAll(reason: string): void {
    for (const download of this.downloads.values()) download.abort(reason);
  }

  /**
   * The running download of `digest`, if one can still be joined. A failed download stays in
   * the map for a few ticks until its cleanup runs; a request arriving then starts afresh
   * instead of joining a failure.
   */
  private joinable(digest: Digest): BlobDownload | undefined {
    const download = this.downloads.get(digest.value);
    return download && !download.isFailed ? download : undefined;
  }

  private cached(digest: Digest, size: number): BlobHandle {
    return {
      digest: digest.value,
      size,
      source: 'cache',
      open: (range) => this.options.store.createReadStream(digest, range),
    };
  }

  /** `joined`: another request started this download, so this one is served `inflight`. */
  private async join(download: BlobDownload, joined: boolean): Promise<BlobHandle> {
    const size = await download.sized;
    const source: ContentSource = joined ? 'inflight' : download.source.startsWith('peer') ? 'peer' : download.source === 'upstream' ? 'upstream' : 'inflight';
    return {
      digest: download.digest,
      size,
      source,
      open: (range) => Promise.resolve(download.createReader(range?.start ?? 0, range?.end ?? size - 1)),
    };
  }

  /** Starts (or joins the start of) the one download of `digest`; concurrent callers share it. */
  private startDownload(route: RegistryRoute, digest: Digest, options: PeerSourceOptions): Promise<BlobDownload> {
    const starting = this.starting.get(digest.value);
    if (starting) return starting;
    const created = this.createDownload(route, digest, options).finally(() => this.starting.delete(digest.value));
    this.starting.set(digest.value, created);
    return created;
  }

  private async createDownload(route: RegistryRoute, digest: Digest, options: PeerSourceOptions): Promise<BlobDownload> {
    if (route.authenticated) await this.options.privateContent?.markPrivate(digest.value);
    const peerSources = this.options.peers ? await this.options.peers.blobSources(route, digest, options) : [];
    const sources: BlobSource[] = [...peerSources, upstreamSource(route, digest)];
    const writer = await this.options.store.createWriter(digest);
    const expectedSize = this.options.sizes?.sizeOf(digest.value);
    const download = new BlobDownload(writer, sources, this.options.logger, {
      ...(expectedSize !== undefined ? { expectedSize } : {}),
      ...(this.options.pace ? { pace: this.options.pace } : {}),
      reopen: () => this.options.store.createWriter(digest),
    });
    // Replaces a failed download whose cleanup has not run yet; that cleanup only removes its own entry.
    this.downloads.set(digest.value, download);
    const started = Date.now();
    download.finished
      .then(
        (stored) => {
          this.options.logger.info({ digest: digest.value, bytes: stored.size, source: download.source, ms: Date.now() - started }, 'blob cached');
          // Only committed content is advertised. A node that is still downloading is found
          // through ownership instead: advertising it could let two in-flight downloads wait
          // on each other, while a chain that ends at committed content or upstream cannot.
          this.options.holdings?.holding(digest.value);
        },
        (error: unknown) => {
          this.options.logger.warn({ digest: digest.value, err: error instanceof Error ? error.message : String(error) }, 'blob download failed; nothing cached');
        },
      )
      .finally(() => {
        if (this.downloads.get(digest.value) === download) this.downloads.delete(digest.value);
      })
      .catch(() => undefined);
    return download;
  }
}

function upstreamSource(route: RegistryRoute, digest: Digest): BlobSource {
  return {
    kind: 'upstream',
    name: 'upstream',
    open: (offset, signal) => route.client.fetchBlob(route.repository, digest.value, { offset, signal }),
  };
}

function blobUnknown(digest: Digest): OciError {
  return new OciError('BLOB_UNKNOWN', `blob ${digest.value} is not held by this node`, { detail: { digest: digest.value } });
}
