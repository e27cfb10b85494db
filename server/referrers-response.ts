import type { Context } from 'koa';
import type { PullThroughMirror } from '../mirror/pull-through-mirror.js';
import type { RegistryRoute } from '../mirror/registry-router.js';
import type { RequestOrigin } from '../mirror/request-origin.js';
import type { Digest } from '../oci/digest.js';
import { RegistryError } from '../oci/registry-error.js';
import { IMAGE_INDEX_MEDIA_TYPE } from '../oci/referrers-index.js';
import { SOURCE_HEADER, STALE_HEADER } from './headers.js';
import type { EdgePierState } from './request-context.js';

/** Answers `GET /v2/<name>/referrers/<digest>[?artifactType=]` with an OCI image index. */
export async function serveReferrers(
  ctx: Context & { state: EdgePierState },
  mirror: PullThroughMirror,
  route: RegistryRoute,
  subject: Digest,
  origin: RequestOrigin,
): Promise<void> {
  const { artifactType } = ctx.query;
  if (Array.isArray(artifactType)) throw new RegistryError('UNSUPPORTED', 'artifactType may be given once');
  const result = await mirror.referrers(route, subject, artifactType, origin);
  Object.assign(ctx.state.facts, { source: result.source, digest: subject.value, ...(result.stale ? { stale: true } : {}) });
  ctx.set(SOURCE_HEADER, result.source);
  if (result.stale) ctx.set(STALE_HEADER, 'true');
  if (result.filtersApplied.length > 0) ctx.set('OCI-Filters-Applied', result.filtersApplied.join(','));
  // Set as a header, not ctx.type, so the media type goes out exactly as the spec names it.
  ctx.set('Content-Type', IMAGE_INDEX_MEDIA_TYPE);
  ctx.body = Buffer.from(JSON.stringify(result.index));
}
