import type { Logger } from 'pino';
import { isDiskFull } from '../cache/disk-full.js';
import type { ReferrersLocation, ReferrersStore } from '../cache/referrers-store.js';
import type { Digest } from '../oci/digest.js';
import { RegistryError } from '../oci/registry-error.js';
import { referrersIndex, referrersTag, type ReferrersIndex } from '../oci/referrers-index.js';
import type { RegistryRoute } from './registry-router.js';
import type { RequestOrigin } from './request-origin.js';
import { isUpstreamUnreachable } from './upstream-unreachable.js';

export interface ReferrersResult {
  readonly index: ReferrersIndex;
  /** The filters applied to `index` (the OCI-Filters-Applied header). */
  readonly filtersApplied: readonly string[];
  readonly source: 'upstream' | 'cache';
  /** True when upstream could not be asked and the last list this node saw answers. */
  readonly stale?: boolean;
}

export interface ReferrersMirrorOptions {
  readonly referrers: ReferrersStore;
  readonly logger: Logger;
  /** How long upstream may take before the last known list answers. */
  readonly timeoutMs: number;
}

/**
 * `GET /v2/<name>/referrers/<digest>` through the mirror: signatures, SBOMs and attestations
 * of a manifest. Asked of upstream's referrers API where it has one, else read from the
 * referrers tag schema (`sha256-<hex>`), the fallback a client would do itself. The full
 * list is kept, so verification still works at a site whose WAN is down; the artifacts
 * themselves are manifests and blobs, pulled and shared like any other.
 */
export class ReferrersMirror {
  constructor(private readonly options: ReferrersMirrorOptions) {}

  async referrers(route: RegistryRoute, subject: Digest, artifactType: string | undefined, origin: RequestOrigin): Promise<ReferrersResult> {
    const location: ReferrersLocation = { registry: route.registry, repository: route.repository, subject: subject.value };
    if (!origin.fromPeer) {
      try {
        const manifests = await this.fromUpstream(route, subject);
        await this.remember(location, manifests);
        return { ...filtered(manifests, artifactType), source: 'upstream' };
      } catch (error) {
        if (!isUpstreamUnreachable(error)) throw error;
        const known = await this.options.referrers.get(location);
        if (!known) throw error;
        this.options.logger.warn(
          { registry: route.registry, repository: route.repository, subject: subject.value, resolvedAt: new Date(known.resolvedAt).toISOString() },
          'upstream unreachable; serving the last known referrers list (stale)',
        );
        return { ...filtered(known.manifests, artifactType), source: 'cache', stale: true };
      }
    }
    // A peer's request never makes this node call upstream (request-origin.ts).
    const known = await this.options.referrers.get(location);
    if (!known) throw new RegistryError('MANIFEST_UNKNOWN', `no referrers of ${subject.value} are known to this node`, { detail: { subject: subject.value } });
    return { ...filtered(known.manifests, artifactType), source: 'cache', stale: true };
  }

  private async fromUpstream(route: RegistryRoute, subject: Digest): Promise<readonly unknown[]> {
    const signal = AbortSignal.timeout(this.options.timeoutMs);
    // Asked unfiltered: the whole list is what is kept, and filters are applied here.
    const api = await route.client.fetchReferrers(route.repository, subject.value, { signal });
    if (api) return parseManifests(api.body, `the referrers API of ${route.registry}`);
    let fallback;
    try {
      fallback = await route.client.fetchManifest(route.repository, referrersTag(subject), { method: 'GET', signal });
    } catch (error) {
      // No tag: nothing refers to the subject yet (the spec's answer is an empty list).
      if (error instanceof RegistryError && error.code === 'MANIFEST_UNKNOWN') return [];
      throw error;
    }
    return parseManifests(fallback.body ?? Buffer.alloc(0), `the referrers tag of ${route.registry}`);
  }

  /** Keeping the list is an optimisation: a full disk costs the offline answer, not this one. */
  private async remember(location: ReferrersLocation, manifests: readonly unknown[]): Promise<void> {
    try {
      await this.options.referrers.set(location, { manifests, resolvedAt: Date.now() });
    } catch (error) {
      if (!isDiskFull(error)) throw error;
      this.options.logger.warn({ subject: location.subject, err: String(error) }, 'disk full: referrers list served uncached');
    }
  }
}

function filtered(manifests: readonly unknown[], artifactType: string | undefined): Pick<ReferrersResult, 'index' | 'filtersApplied'> {
  if (artifactType === undefined) return { index: referrersIndex(manifests), filtersApplied: [] };
  const matching = manifests.filter((descriptor) => (descriptor as { artifactType?: unknown }).artifactType === artifactType);
  return { index: referrersIndex(matching), filtersApplied: ['artifactType'] };
}

function parseManifests(body: Buffer, where: string): readonly unknown[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    throw new RegistryError('UPSTREAM_ERROR', `${where} is not JSON`);
  }
  const manifests = (parsed as { manifests?: unknown } | null)?.manifests;
  if (manifests === undefined) return [];
  if (!Array.isArray(manifests) || !manifests.every(isDescriptor)) throw new RegistryError('UPSTREAM_ERROR', `${where} is not an image index`);
  return manifests;
}

function isDescriptor(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return false;
  const descriptor = value as { mediaType?: unknown; digest?: unknown; size?: unknown };
  return typeof descriptor.mediaType === 'string' && typeof descriptor.digest === 'string' && typeof descriptor.size === 'number';
}
