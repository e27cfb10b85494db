import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import type { BlobStore } from '../cache/blob-store.js';
import { hasCode } from '../cache/blob-store.js';
import type { TagLocation, TagStore } from '../cache/tag-store.js';
import type { ByteRange } from '../oci/byte-range.js';
import { digestOf, parseDigest, type Digest } from '../oci/digest.js';
import { declaredMediaType } from '../oci/media-types.js';
import { OciError } from '../oci/oci-error.js';
import type { ManifestReference } from '../oci/parse-request-path.js';
import type { RequestOrigin } from '../peer/peer-protocol.js';
import { BlobDownload } from './blob-download.js';
import type { BlobSource } from './blob-source.js';
import type { RegistryRoute } from './registry-router.js';

/** How stale an unchanged tag confirmation may get before it is written again. */
const TAG_RECONFIRM_MS = 10 * 60_000;

/** Where a response's bytes came from; also the X-EdgePier-Source header. */
export type ContentSource = 'cache' | 'inflight' | 'peer' | 'upstream';

export interface BlobHandle {
  readonly digest: string;
  readonly size: number;
  readonly source: ContentSource;
  /** Opens the bytes (a range of them): from the cache file, or following a download. */
  open(range?: ByteRange): Promise<Readable>;
}

export interface ManifestResult {
  readonly digest: string;
  readonly mediaType: string;
  readonly size: number;
  /** Absent when only HEAD was asked and the bytes were not needed. */
  readonly body?: Buffer;
  readonly source: ContentSource;
  /** True when upstream could not be asked and the last known tag mapping was used. */
  readonly stale?: boolean;
  /** For tags: when upstream last confirmed the mapping (epoch ms). */
  readonly resolvedAt?: number;
}

/** A blob answer in redirect mode: send the client to a peer instead of serving. */
export interface BlobRedirect {
  readonly redirect: string;
}

/**
 * Which neighbours a download may use: `all` (the owner, then holders) for a local
 * client's request; `holders` only, when this node is serving an owner fetch.
 */
export interface PeerSourceOptions {
  readonly peers: 'all' | 'holders';
  /** The node that asked us; never asked back. */
  readonly exclude?: string;
}

/** The site LAN as seen by the core (implemented by peer/SitePeers). */
export interface PeerSourceProvider {
  /** Sources on the LAN for a digest, best first; the mirror tries them before upstream. */
  blobSources(route: RegistryRoute, digest: Digest, options: PeerSourceOptions): Promise<BlobSource[]>;
  /** Redirect mode: a peer URL that will serve the blob, if any. */
  redirectTarget(route: RegistryRoute, digest: Digest): Promise<string | undefined>;
  /** A manifest some peer holds, for when upstream cannot be reached. */
  manifestFromPeers(
    route: RegistryRoute,
    reference: { tag: string } | { digest: Digest },
  ): Promise<{ digest: Digest; body: Buffer; mediaType: string; resolvedAt?: number; peer: string } | undefined>;
}

/** Told when this node starts or stops holding a digest, so the LAN can be told. */
export interface HoldingsListener {
  holding(digest: string): void;
  released(digest: string): void;
}

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
}

/**
 * The HTTP-agnostic pull-through core: local cache, then a download in progress, then
 * peers, then upstream, with every byte verified before it is committed. One download per
 * digest at a time, however many requests want it (the `downloads` map is the dedupe).
 */
export class PullThroughMirror {
  private readonly downloads = new Map<string, BlobDownload>();
  /** Downloads between "decided to fetch" and "download object exists" (peer lookup, spool open). */
  private readonly starting = new Map<string, Promise<BlobDownload>>();

  constructor(private readonly options: PullThroughMirrorOptions) {}

  /** Downloads currently running, by digest (for metrics and status). */
  get activeDownloads(): number {
    return this.downloads.size;
  }

  async openBlob(route: RegistryRoute, digest: Digest, origin: RequestOrigin): Promise<BlobHandle | BlobRedirect> {
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
    const running = this.joinable(digest);
    if (running) return { size: await running.sized, source: 'inflight' };
    const stored = await this.options.store.stat(digest);
    if (stored) return { size: stored.size, source: 'cache' };
    if (origin.fromPeer && !origin.ownerFetch) throw blobUnknown(digest);
    const { size } = await route.client.headBlob(route.repository, digest.value);
    return { size, source: 'upstream' };
  }

  async getManifest(
    route: RegistryRoute,
    reference: ManifestReference,
    options: RequestOrigin & { method: 'GET' | 'HEAD' },
  ): Promise<ManifestResult> {
    if (reference.kind === 'digest') return this.manifestByDigest(route, reference.digest, options);
    return this.manifestByTag(route, reference.tag, options);
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
    const peerSources = this.options.peers ? await this.options.peers.blobSources(route, digest, options) : [];
    const sources: BlobSource[] = [...peerSources, upstreamSource(route, digest)];
    const writer = await this.options.store.createWriter(digest);
    const download = new BlobDownload(writer, sources, this.options.logger);
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

  private async manifestByDigest(
    route: RegistryRoute,
    digest: Digest,
    options: RequestOrigin & { method: 'GET' | 'HEAD' },
  ): Promise<ManifestResult> {
    const local = await this.readStoredManifest(digest, options.method);
    if (local) return local;
    if (options.fromPeer && !options.ownerFetch) throw manifestUnknown(digest.value);
    let fetched;
    try {
      fetched = await route.client.fetchManifest(route.repository, digest.value, { method: 'GET' });
    } catch (error) {
      const fromPeers = !options.fromPeer && isUnreachable(error) ? await this.options.peers?.manifestFromPeers(route, { digest }) : undefined;
      if (!fromPeers) throw error;
      await this.storeManifest(digest, fromPeers.body, fromPeers.mediaType);
      return { digest: digest.value, mediaType: fromPeers.mediaType, size: fromPeers.body.length, body: fromPeers.body, source: 'peer' };
    }
    const body = fetched.body ?? Buffer.alloc(0);
    if (digestOf(body, digest.algorithm).value !== digest.value) {
      throw new OciError('UPSTREAM_ERROR', `upstream ${route.registry} sent a manifest that does not match ${digest.value}`);
    }
    await this.storeManifest(digest, body, fetched.mediaType);
    return { digest: digest.value, mediaType: fetched.mediaType, size: body.length, body, source: 'upstream' };
  }

  private async manifestByTag(
    route: RegistryRoute,
    tag: string,
    options: RequestOrigin & { method: 'GET' | 'HEAD' },
  ): Promise<ManifestResult> {
    const location = { registry: route.registry, repository: route.repository, tag };
    if (options.fromPeer) {
      const known = await this.options.tags.get(location);
      const local = known && (await this.readStoredManifest(parseDigest(known.digest), options.method));
      if (!local) throw manifestUnknown(tag);
      return { ...local, resolvedAt: known.resolvedAt };
    }
    const signal = AbortSignal.timeout(this.options.tagTimeoutMs);
    try {
      if (options.method === 'HEAD') {
        // A HEAD upstream is cheap (and free of registry rate limits); when it names a
        // digest we hold, the answer comes from the cache without a manifest download.
        const head = await route.client.fetchManifest(route.repository, tag, { method: 'HEAD', signal });
        if (head.reportedDigest) {
          const local = await this.readStoredManifest(parseDigest(head.reportedDigest), 'HEAD').catch(() => undefined);
          if (local) {
            await this.recordTag(location, local.digest, local.mediaType);
            return local;
          }
        }
      }
      const fetched = await route.client.fetchManifest(route.repository, tag, { method: 'GET', signal });
      const body = fetched.body ?? Buffer.alloc(0);
      const digest = digestOf(body);
      await this.storeManifest(digest, body, fetched.mediaType);
      await this.recordTag(location, digest.value, fetched.mediaType);
      return { digest: digest.value, mediaType: fetched.mediaType, size: body.length, body, source: 'upstream' };
    } catch (error) {
      if (!isUnreachable(error)) throw error;
      const known = await this.options.tags.get(location);
      const local = known && (await this.readStoredManifest(parseDigest(known.digest), options.method));
      if (!local) return this.tagFromPeers(route, location, error);
      this.options.logger.warn(
        { registry: route.registry, repository: route.repository, tag, digest: local.digest, resolvedAt: new Date(known.resolvedAt).toISOString() },
        'upstream unreachable; serving the last known tag mapping (stale)',
      );
      return { ...local, stale: true };
    }
  }

  /**
   * Remembers what upstream just said a tag is. The store appends on every write, so an
   * unchanged mapping is rewritten only when its confirmation time has grown old.
   */
  private async recordTag(location: TagLocation, digest: string, mediaType: string): Promise<void> {
    const known = await this.options.tags.get(location);
    const now = Date.now();
    if (known && known.digest === digest && known.mediaType === mediaType && now - known.resolvedAt < TAG_RECONFIRM_MS) return;
    await this.options.tags.set(location, { digest, mediaType, resolvedAt: now });
  }

  /** The WAN is down and this node never saw the tag: maybe a neighbour did. */
  private async tagFromPeers(route: RegistryRoute, location: TagLocation, upstreamError: unknown): Promise<ManifestResult> {
    const answer = await this.options.peers?.manifestFromPeers(route, { tag: location.tag });
    if (!answer) throw upstreamError;
    await this.storeManifest(answer.digest, answer.body, answer.mediaType);
    const resolvedAt = answer.resolvedAt ?? 0;
    await this.options.tags.set(location, { digest: answer.digest.value, mediaType: answer.mediaType, resolvedAt });
    this.options.logger.warn(
      { registry: route.registry, repository: route.repository, tag: location.tag, digest: answer.digest.value, peer: answer.peer },
      'upstream unreachable; tag resolved by a peer (stale)',
    );
    return {
      digest: answer.digest.value,
      mediaType: answer.mediaType,
      size: answer.body.length,
      body: answer.body,
      source: 'peer',
      stale: true,
      resolvedAt,
    };
  }

  private async readStoredManifest(digest: Digest, method: 'GET' | 'HEAD'): Promise<ManifestResult | undefined> {
    const stored = await this.options.store.stat(digest);
    if (!stored) return undefined;
    const mediaType = stored.mediaType ?? 'application/vnd.oci.image.manifest.v1+json';
    if (method === 'HEAD') return { digest: digest.value, mediaType, size: stored.size, source: 'cache' };
    try {
      const body = await readAll(await this.options.store.createReadStream(digest));
      return { digest: digest.value, mediaType: declaredMediaType(body) ?? mediaType, size: body.length, body, source: 'cache' };
    } catch (error) {
      if (hasCode(error, 'ENOENT')) return undefined;
      throw error;
    }
  }

  private async storeManifest(digest: Digest, body: Buffer, mediaType: string): Promise<void> {
    if (await this.options.store.stat(digest)) return;
    const writer = await this.options.store.createWriter(digest, { mediaType });
    try {
      await writer.write(body);
      await writer.commit();
      this.options.holdings?.holding(digest.value);
    } finally {
      await writer.abort();
    }
  }
}

function upstreamSource(route: RegistryRoute, digest: Digest): BlobSource {
  return {
    kind: 'upstream',
    name: 'upstream',
    open: (offset, signal) => route.client.fetchBlob(route.repository, digest.value, { offset, signal }),
  };
}

/** Failures where upstream said nothing about the tag, so the last known answer still stands. */
function isUnreachable(error: unknown): boolean {
  return error instanceof OciError && (error.code === 'UPSTREAM_ERROR' || error.code === 'UPSTREAM_TIMEOUT' || error.code === 'TOOMANYREQUESTS');
}

function blobUnknown(digest: Digest): OciError {
  return new OciError('BLOB_UNKNOWN', `blob ${digest.value} is not held by this node`, { detail: { digest: digest.value } });
}

function manifestUnknown(reference: string): OciError {
  return new OciError('MANIFEST_UNKNOWN', `manifest ${reference} is not known to this node`, { detail: { reference } });
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
