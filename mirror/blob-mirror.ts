import type { Logger } from 'pino';
import type { BlobStore } from '../cache/blob-store.js';
import type { Digest } from '../oci/digest.js';
import { RegistryError } from '../oci/registry-error.js';
import { BlobDownload } from './blob-download.js';
import type { BlobSource } from './blob-source.js';
import type { DescriptorSizes } from './descriptor-sizes.js';
import type { SourcePace } from './source-pace.js';
import type { BlobHandle, BlobRedirect, ContentSource, InflightDownload } from './mirror-results.js';
import type { PrivateContent } from './private-content.js';
import type { HoldingsListener, PeerSourceOptions, PeerSourceProvider, RelayRole } from './peer-source-provider.js';
import type { RegistryRoute } from './registry-router.js';
import type { RequestOrigin } from './request-origin.js';

export interface BlobMirrorOptions {
  readonly store: BlobStore;
  readonly logger: Logger;
  readonly peers?: PeerSourceProvider;
  /** `redirect` sends local clients to the peer that has (or owns) a blob; `proxy` streams it. */
  readonly peerMode?: 'proxy' | 'redirect';
  readonly holdings?: HoldingsListener;
  /** Remembers what was fetched with credentials, so an open site never shares it. */
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
  /**
   * Digests a client of this node is waiting for. A relay's download started for a peer may
   * go upstream only on their behalf: a peer alone never makes a non-owner cross the WAN.
   */
  private readonly locallyWanted = new Set<string>();

  constructor(private readonly options: BlobMirrorOptions) {}

  /** Downloads currently running, by digest (for metrics and status). */
  get activeDownloads(): number {
    return this.downloads.size;
  }

  /** The running downloads with their progress, for the site view. */
  downloadsInFlight(): InflightDownload[] {
    return [...this.downloads.values()]
      .filter((download) => !download.isFailed && !download.isCommitted)
      .map((download) => ({ digest: download.digest, receivedBytes: download.bytesWritten, sizeBytes: download.size ?? null, from: download.source }));
  }

  async openBlob(route: RegistryRoute, digest: Digest, origin: RequestOrigin): Promise<BlobHandle | BlobRedirect> {
    this.refusePrivate(digest, origin);
    const running = this.followable(digest, origin);
    if (running) return this.join(running, true, origin);
    const stored = await this.options.store.stat(digest);
    if (stored) return this.cached(digest, stored.size);
    const raced = this.followable(digest, origin);
    if (raced) return this.join(raced, true, origin);
    const role = this.roleFor(digest, origin);
    if (role === 'refuse') throw blobUnknown(digest);
    if (!origin.fromPeer && this.options.peerMode === 'redirect' && this.options.peers) {
      const redirect = await this.options.peers.redirectTarget(route, digest);
      if (redirect) return { redirect };
      // The lookup took time: a peer's request may have started (or finished) the download
      // meanwhile. Starting a second one here is what made redirect mode fetch a layer twice.
      const started = this.joinable(digest);
      if (started) return this.join(started, true, origin);
      const landed = await this.options.store.stat(digest);
      if (landed) return this.cached(digest, landed.size);
    }
    // Whoever finds a start already under way joins it, like a running download.
    const joining = this.starting.has(digest.value);
    if (!origin.fromPeer) this.locallyWanted.add(digest.value);
    const options = origin.fromPeer && origin.peerId ? { forPeer: origin.peerId } : {};
    return this.join(await this.startDownload(route, digest, options, role), joining, origin);
  }

  /**
   * What this request may make this node fetch. A local client: anything. A peer: nothing
   * unless it asked this node to fetch for it and ranks below it for the digest (the site's
   * rule, so even a buggy member cannot build a loop); then through this node's ancestors,
   * and upstream only if this node is the digest's owner.
   */
  private roleFor(digest: Digest, origin: RequestOrigin): RelayRole {
    if (!origin.fromPeer) return 'owner';
    if (!origin.ownerFetch) return 'refuse';
    if (!this.options.peers) return 'owner';
    return this.options.peers.relayRole(digest, origin.peerId ?? '');
  }

  async statBlob(route: RegistryRoute, digest: Digest, origin: RequestOrigin): Promise<{ size: number; source: ContentSource }> {
    this.refusePrivate(digest, origin);
    const running = this.joinable(digest);
    if (running) return { size: await running.sized, source: 'inflight' };
    const stored = await this.options.store.stat(digest);
    if (stored) return { size: stored.size, source: 'cache' };
    if (this.roleFor(digest, origin) === 'refuse') throw blobUnknown(digest);
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

  /**
   * The running download this request may follow. A peer that ranks above this node for the
   * digest may follow it only once it is fed by upstream (or done): a download fed by the
   * site may be fed, through the relay tree, by that very peer, and the two would wait on
   * each other. Such a peer is answered from committed content only.
   */
  private followable(digest: Digest, origin: RequestOrigin): BlobDownload | undefined {
    const running = this.joinable(digest);
    if (!running || running.isCommitted || running.source === 'upstream') return running;
    return this.asksFromAbove(digest, origin) ? undefined : running;
  }

  private asksFromAbove(digest: Digest, origin: RequestOrigin): boolean {
    if (!origin.fromPeer || origin.peerId === undefined || !this.options.peers) return false;
    return this.options.peers.relayRole(digest, origin.peerId) === 'refuse';
  }

  private cached(digest: Digest, size: number): BlobHandle {
    return {
      digest: digest.value,
      size,
      source: 'cache',
      open: (range, readOptions) => this.options.store.createReadStream(digest, range, readOptions),
    };
  }

  /** `joined`: another request started this download, so this one is served `inflight`. */
  private async join(download: BlobDownload, joined: boolean, origin: RequestOrigin): Promise<BlobHandle> {
    if (!origin.fromPeer) this.locallyWanted.add(download.digest);
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
  private startDownload(route: RegistryRoute, digest: Digest, options: PeerSourceOptions, role: RelayRole): Promise<BlobDownload> {
    const starting = this.starting.get(digest.value);
    if (starting) return starting;
    const created = this.createDownload(route, digest, options, role).finally(() => this.starting.delete(digest.value));
    this.starting.set(digest.value, created);
    return created;
  }

  private async createDownload(route: RegistryRoute, digest: Digest, options: PeerSourceOptions, role: RelayRole): Promise<BlobDownload> {
    if (route.authenticated) await this.options.privateContent?.markPrivate(digest.value);
    const peerSources = this.options.peers ? await this.options.peers.blobSources(route, digest, options) : [];
    const upstream = upstreamSource(route, digest);
    const sources: BlobSource[] = [...peerSources, role === 'owner' ? upstream : this.forLocalClients(digest, upstream)];
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
    // When the first byte arrived (time to first byte through the relay tree, in the log).
    let firstByteMs: number | undefined;
    download.once('progress', () => {
      firstByteMs = Date.now() - started;
    });
    download.finished
      .then(
        (stored) => {
          this.options.logger.info({ digest: digest.value, bytes: stored.size, source: download.source, ms: Date.now() - started, firstByteMs }, 'blob cached');
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
        if (this.downloads.get(digest.value) !== download) return;
        this.downloads.delete(digest.value);
        this.locallyWanted.delete(digest.value);
      })
      .catch(() => undefined);
    return download;
  }

  /**
   * Upstream for a relay's download that a peer started: open only once a client of this
   * node wants the blob too (then this node would go upstream for it anyway, as the last
   * resort of its own pull); for the peer alone it is a miss, and the peer moves on.
   */
  private forLocalClients(digest: Digest, upstream: BlobSource): BlobSource {
    return {
      ...upstream,
      open: (offset, signal) => {
        if (!this.locallyWanted.has(digest.value)) return Promise.reject(new RegistryError('BLOB_UNKNOWN', 'a relay goes upstream only for its own clients'));
        return upstream.open(offset, signal);
      },
    };
  }
}

function upstreamSource(route: RegistryRoute, digest: Digest): BlobSource {
  return {
    kind: 'upstream',
    name: 'upstream',
    open: (offset, signal) => route.client.fetchBlob(route.repository, digest.value, { offset, signal }),
  };
}

function blobUnknown(digest: Digest): RegistryError {
  return new RegistryError('BLOB_UNKNOWN', `blob ${digest.value} is not held by this node`, { detail: { digest: digest.value } });
}
