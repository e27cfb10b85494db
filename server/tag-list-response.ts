import type { Context } from 'koa';
import type { PullThroughMirror } from '../mirror/pull-through-mirror.js';
import type { RegistryRoute } from '../mirror/registry-router.js';
import type { RequestOrigin } from '../mirror/request-origin.js';
import type { TagPageRequest } from '../mirror/tag-page.js';
import { RegistryError } from '../oci/registry-error.js';
import { SOURCE_HEADER, STALE_HEADER } from './headers.js';
import type { EdgePierState } from './request-context.js';

/** Larger pages are cut to this: no client needs more per request, and it bounds the JSON. */
const MAX_PAGE = 10_000;

/** Answers `GET /v2/<name>/tags/list?n=&last=` with the spec's body and `Link` to the next page. */
export async function serveTagList(
  ctx: Context & { state: EdgePierState },
  mirror: PullThroughMirror,
  route: RegistryRoute,
  name: string,
  origin: RequestOrigin,
): Promise<void> {
  const request = pageRequest(ctx);
  const result = await mirror.listTags(route, request, origin);
  Object.assign(ctx.state.facts, { source: result.source, ...(result.stale ? { stale: true } : {}) });
  ctx.set(SOURCE_HEADER, result.source);
  if (result.stale) ctx.set(STALE_HEADER, 'true');
  if (result.next) {
    const query = new URLSearchParams({ n: String(result.next.n), last: result.next.last });
    // containerd routes by `?ns=`: the next page must reach the same upstream.
    if (typeof ctx.query.ns === 'string') query.set('ns', ctx.query.ns);
    ctx.set('Link', `</v2/${name}/tags/list?${query.toString()}>; rel="next"`);
  }
  ctx.type = 'application/json';
  ctx.body = JSON.stringify({ name, tags: result.tags });
}

function pageRequest(ctx: Context): TagPageRequest {
  const { n, last } = ctx.query;
  if (Array.isArray(n) || Array.isArray(last)) throw new RegistryError('PAGINATION_NUMBER_INVALID', 'n and last may be given once each');
  if (n !== undefined && !/^[0-9]{1,9}$/.test(n)) {
    throw new RegistryError('PAGINATION_NUMBER_INVALID', 'n must be a non-negative integer', { detail: { n: n.slice(0, 32) } });
  }
  return {
    ...(n !== undefined ? { n: Math.min(Number(n), MAX_PAGE) } : {}),
    ...(last !== undefined ? { last } : {}),
  };
}
