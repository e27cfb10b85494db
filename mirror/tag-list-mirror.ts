import type { Logger } from 'pino';
import type { TagStore } from '../cache/tag-store.js';
import type { RegistryRoute } from './registry-router.js';
import type { RequestOrigin } from './request-origin.js';
import { cutTagPage, type TagPage, type TagPageRequest } from './tag-page.js';
import { isUpstreamUnreachable } from './upstream-unreachable.js';

export interface TagListResult extends TagPage {
  readonly source: 'upstream' | 'cache' | 'peer';
  /** True when upstream could not be asked: the list is what this node (or a member) knows. */
  readonly stale?: boolean;
}

/**
 * The seam for site membership (not implemented here): a provider that asks the site's
 * members for the tags they know, for a node that knows none while its WAN is down. Only a
 * member proven by the site key may be believed about tags (design.md, Site membership).
 */
export interface TagListMemberSource {
  tagsFromMembers(route: RegistryRoute): Promise<readonly string[] | undefined>;
}

export interface TagListMirrorOptions {
  readonly tags: TagStore;
  readonly logger: Logger;
  /** How long the upstream tag list may take before the tags this node knows answer. */
  readonly timeoutMs: number;
  readonly members?: TagListMemberSource;
}

/**
 * `GET /v2/<name>/tags/list` through the mirror: proxied upstream with the client's `n` and
 * `last`, paged again here because registries differ in what they honour (distribution 2.8
 * ignores `last`); when upstream cannot answer, the tags this node can resolve offline.
 */
export class TagListMirror {
  constructor(private readonly options: TagListMirrorOptions) {}

  async listTags(route: RegistryRoute, request: TagPageRequest, origin: RequestOrigin): Promise<TagListResult> {
    // A peer's request never makes this node call upstream (request-origin.ts).
    if (origin.fromPeer) return { ...cutTagPage(await this.knownTags(route), request), source: 'cache', stale: true };
    try {
      return { ...(await this.fromUpstream(route, request)), source: 'upstream' };
    } catch (error) {
      if (!isUpstreamUnreachable(error)) throw error;
      const known = await this.knownTags(route);
      if (known.length > 0) {
        this.options.logger.warn({ registry: route.registry, repository: route.repository, tags: known.length }, 'upstream unreachable; listing the tags this node knows (stale)');
        return { ...cutTagPage(known, request), source: 'cache', stale: true };
      }
      const fromMembers = await this.options.members?.tagsFromMembers(route);
      if (!fromMembers || fromMembers.length === 0) throw error;
      return { ...cutTagPage(fromMembers, request), source: 'peer', stale: true };
    }
  }

  private async fromUpstream(route: RegistryRoute, request: TagPageRequest): Promise<TagPage> {
    const signal = AbortSignal.timeout(this.options.timeoutMs);
    const page = await route.client.listTags(route.repository, { ...request, signal });
    const last = request.last;
    if (last === undefined || !page.tags.some((tag) => tag <= last)) return cutTagPage(page.tags, request, page.more);
    // Upstream ignored `last` (it sent tags the client already has): its first page is not
    // the page asked for, so take the whole list and cut the page here.
    const whole = await route.client.listTags(route.repository, { signal });
    return cutTagPage(whole.tags, request, whole.more);
  }

  private knownTags(route: RegistryRoute): Promise<string[]> {
    return this.options.tags.list(route.registry, route.repository);
  }
}
