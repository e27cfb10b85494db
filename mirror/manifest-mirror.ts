import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import type { BlobStore } from '../cache/blob-store.js';
import { hasCode } from '../cache/blob-store.js';
import { isDiskFull } from '../cache/disk-full.js';
import { isCannotSpool } from '../cache/spool-full.js';
import type { TagLocation, TagStore } from '../cache/tag-store.js';
import { digestOf, parseDigest, type Digest } from '../oci/digest.js';
import { declaredMediaType } from '../oci/media-types.js';
import { RegistryError } from '../oci/registry-error.js';
import type { ManifestReference } from '../oci/parse-request-path.js';
import type { ManifestResult } from './mirror-results.js';
import type { PrivateContent } from './private-content.js';
import type { HoldingsListener, PeerSourceProvider } from './peer-source-provider.js';
import type { RegistryRoute } from './registry-router.js';
import type { RequestOrigin } from './request-origin.js';
import { isUpstreamUnreachable } from './upstream-unreachable.js';

/** How stale an unchanged tag confirmation may get before it is written again. */
const TAG_RECONFIRM_MS = 10 * 60_000;

export interface ManifestMirrorOptions {
  readonly store: BlobStore;
  readonly tags: TagStore;
  readonly logger: Logger;
  /** How long a tag lookup waits for upstream before the last known mapping is used. */
  readonly tagTimeoutMs: number;
  readonly peers?: PeerSourceProvider;
  readonly holdings?: HoldingsListener;
  readonly privateContent?: PrivateContent;
}

/**
 * Manifests and tags through the mirror (distribution's proxymanifeststore and
 * proxytagservice). Manifests by digest are immutable and cached like blobs; a tag is
 * resolved upstream with a short timeout, and the last known mapping answers when upstream
 * cannot.
 */
export class ManifestMirror {
  constructor(private readonly options: ManifestMirrorOptions) {}

  async getManifest(
    route: RegistryRoute,
    reference: ManifestReference,
    options: RequestOrigin & { method: 'GET' | 'HEAD' },
  ): Promise<ManifestResult> {
    if (reference.kind === 'digest') return this.manifestByDigest(route, reference.digest, options);
    return this.manifestByTag(route, reference.tag, options);
  }

  private async manifestByDigest(
    route: RegistryRoute,
    digest: Digest,
    options: RequestOrigin & { method: 'GET' | 'HEAD' },
  ): Promise<ManifestResult> {
    if (options.publicOnly && this.options.privateContent?.isPrivate(digest.value)) throw manifestUnknown(digest.value);
    const local = await this.readStoredManifest(digest, options.method);
    if (local) return local;
    if (options.fromPeer && !options.ownerFetch) throw manifestUnknown(digest.value);
    let fetched;
    try {
      fetched = await route.client.fetchManifest(route.repository, digest.value, { method: 'GET' });
    } catch (error) {
      const fromPeers = !options.fromPeer && isUpstreamUnreachable(error) ? await this.options.peers?.manifestFromPeers(route, { digest }) : undefined;
      if (!fromPeers) throw error;
      await this.storeManifest(route, digest, fromPeers.body, fromPeers.mediaType);
      return { digest: digest.value, mediaType: fromPeers.mediaType, size: fromPeers.body.length, body: fromPeers.body, source: 'peer' };
    }
    const body = fetched.body ?? Buffer.alloc(0);
    if (digestOf(body, digest.algorithm).value !== digest.value) {
      throw new RegistryError('UPSTREAM_ERROR', `upstream ${route.registry} sent a manifest that does not match ${digest.value}`);
    }
    await this.storeManifest(route, digest, body, fetched.mediaType);
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
      await this.storeManifest(route, digest, body, fetched.mediaType);
      await this.recordTag(location, digest.value, fetched.mediaType);
      return { digest: digest.value, mediaType: fetched.mediaType, size: body.length, body, source: 'upstream' };
    } catch (error) {
      if (!isUpstreamUnreachable(error)) throw error;
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
    try {
      await this.options.tags.set(location, { digest, mediaType, resolvedAt: now });
    } catch (error) {
      // The record only serves a later offline start: a full disk must not fail this pull.
      if (!isDiskFull(error)) throw error;
      this.options.logger.warn({ tag: location.tag, err: String(error) }, 'disk full: tag mapping not recorded');
    }
  }

  /** The WAN is down and this node never saw the tag: maybe a neighbour did. */
  private async tagFromPeers(route: RegistryRoute, location: TagLocation, upstreamError: unknown): Promise<ManifestResult> {
    const answer = await this.options.peers?.manifestFromPeers(route, { tag: location.tag });
    if (!answer) throw upstreamError;
    await this.storeManifest(route, answer.digest, answer.body, answer.mediaType);
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
      answeredBy: answer.peer,
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
      // Gone, or found corrupt while read (and so dropped): a miss, fetched again.
      if (hasCode(error, 'ENOENT') || hasCode(error, 'EINTEGRITY')) return undefined;
      throw error;
    }
  }

  private async storeManifest(route: RegistryRoute, digest: Digest, body: Buffer, mediaType: string): Promise<void> {
    if (route.authenticated) await this.options.privateContent?.markPrivate(digest.value);
    if (await this.options.store.stat(digest)) return;
    const writer = await this.options.store.createWriter(digest, { mediaType }).catch((error: unknown) => {
      if (isDiskFull(error)) return undefined;
      throw error;
    });
    if (!writer) return;
    try {
      await writer.write(body);
      await writer.commit();
      this.options.holdings?.holding(digest.value);
    } catch (error) {
      // Caching is an optimisation: on a full disk the manifest is served uncached.
      if (!isCannotSpool(error)) throw error;
      this.options.logger.warn({ digest: digest.value, err: String(error) }, 'disk full (or the spool bound): manifest served uncached');
    } finally {
      await writer.abort();
    }
  }
}

function manifestUnknown(reference: string): RegistryError {
  return new RegistryError('MANIFEST_UNKNOWN', `manifest ${reference} is not known to this node`, { detail: { reference } });
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
