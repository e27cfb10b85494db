import { pipeline } from 'node:stream/promises';
import type { Context } from 'koa';
import type { PullThroughMirror } from '../mirror/pull-through-mirror.js';
import type { RegistryRoute, RegistryRouter } from '../mirror/registry-router.js';
import { rangeLength, resolveRange } from '../oci/byte-range.js';
import type { Digest } from '../oci/digest.js';
import { BLOB_MEDIA_TYPE } from '../oci/media-types.js';
import { OciError } from '../oci/oci-error.js';
import { parseRequestPath, type ManifestReference } from '../oci/parse-request-path.js';
import { API_VERSION_HEADER } from './oci-error-response.js';
import { RESOLVED_AT_HEADER } from '../peer/peer-protocol.js';
import type { RequestOrigin } from '../mirror/request-origin.js';
import { SOURCE_HEADER, STALE_HEADER } from './headers.js';
import type { EdgePierState } from './request-context.js';

export type RegistryContext = Context & { state: EdgePierState };

export interface RegistryHandlerDependencies {
  readonly mirror: PullThroughMirror;
  readonly router: RegistryRouter;
  /**
   * Who is asking, decided by the listener: always a local client on the client API; a
   * member (or a redirected client with a ticket) on the peer API. Throws to refuse.
   */
  readonly originOf: (ctx: RegistryContext, request: { route: RegistryRoute; kind: 'manifest' | 'blob'; byTag: boolean }) => RequestOrigin;
}

/** The one handler behind `/v2/*`: parse the path once, route to a registry, answer. */
export function createRegistryHandler(deps: RegistryHandlerDependencies): (ctx: RegistryContext) => Promise<void> {
  return async (ctx) => {
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD') {
      throw new OciError('UNSUPPORTED', `${ctx.method} is not supported: EdgePier is a pull-only mirror`);
    }
    ctx.set(API_VERSION_HEADER);
    const target = parseRequestPath(ctx.path);
    if (target.kind === 'base') {
      ctx.type = 'application/json';
      ctx.body = '{}';
      return;
    }
    const namespace = typeof ctx.query.ns === 'string' ? ctx.query.ns : undefined;
    if (Array.isArray(ctx.query.ns)) throw new OciError('NAME_INVALID', 'ns may be given once');
    const route = deps.router.resolve(target.name, namespace);
    if (namespace !== undefined) ctx.set('OCI-Namespace', namespace);
    const origin = deps.originOf(ctx, { route, kind: target.kind, byTag: target.kind === 'manifest' && target.reference.kind === 'tag' });
    if (origin.peerId !== undefined) ctx.state.facts.peer = origin.peerId;
    if (target.kind === 'manifest') {
      await serveManifest(ctx, deps.mirror, route, target.reference, origin);
    } else {
      await serveBlob(ctx, deps.mirror, route, target.digest, origin);
    }
  };
}

async function serveManifest(
  ctx: RegistryContext,
  mirror: PullThroughMirror,
  route: RegistryRoute,
  reference: ManifestReference,
  origin: RequestOrigin,
): Promise<void> {
  const method = ctx.method === 'HEAD' ? 'HEAD' : 'GET';
  const manifest = await mirror.getManifest(route, reference, { ...origin, method });
  Object.assign(ctx.state.facts, { source: manifest.source, digest: manifest.digest, bytes: manifest.size, ...(manifest.stale ? { stale: true } : {}) });
  ctx.set('Docker-Content-Digest', manifest.digest);
  ctx.set(SOURCE_HEADER, manifest.source);
  // A tag a member answered says which member: the operator then knows whom the site trusted.
  if (manifest.stale) ctx.set(STALE_HEADER, manifest.answeredBy ? `true; member=${manifest.answeredBy}` : 'true');
  if (manifest.resolvedAt !== undefined) ctx.set(RESOLVED_AT_HEADER, String(manifest.resolvedAt));
  ctx.type = manifest.mediaType;
  if (method === 'HEAD' || !manifest.body) {
    ctx.status = 200;
    ctx.set('Content-Length', String(manifest.size));
    return;
  }
  ctx.body = manifest.body;
}

async function serveBlob(
  ctx: RegistryContext,
  mirror: PullThroughMirror,
  route: RegistryRoute,
  digest: Digest,
  origin: RequestOrigin,
): Promise<void> {
  ctx.state.facts.digest = digest.value;
  const blobHeaders = (source: string): Record<string, string> => ({
    'Docker-Content-Digest': digest.value,
    'Content-Type': BLOB_MEDIA_TYPE,
    'Accept-Ranges': 'bytes',
    [SOURCE_HEADER]: source,
  });
  if (ctx.method === 'HEAD') {
    const { size, source } = await mirror.statBlob(route, digest, origin);
    Object.assign(ctx.state.facts, { source, bytes: 0 });
    ctx.set(blobHeaders(source));
    ctx.status = 200;
    ctx.set('Content-Length', String(size));
    return;
  }
  const answer = await mirror.openBlob(route, digest, origin);
  if ('redirect' in answer) {
    ctx.state.facts.redirect = answer.redirect;
    ctx.status = 307;
    ctx.set('Location', answer.redirect);
    ctx.body = '';
    return;
  }
  const handle = answer;
  ctx.state.facts.source = handle.source;
  const range = resolveRange(ctx.get('range') || undefined, handle.size);
  const stream = await handle.open(range);
  const response = ctx.res;
  // Streamed by hand, not through koa: after the headers are out, a failure can only be
  // reported by cutting the connection, and pipeline does exactly that (koa would leave
  // the client waiting for bytes that never come).
  ctx.respond = false;
  response.statusCode = range ? 206 : 200;
  for (const [name, value] of Object.entries(blobHeaders(handle.source))) response.setHeader(name, value);
  response.setHeader('Content-Length', String(range ? rangeLength(range) : handle.size));
  if (range) response.setHeader('Content-Range', `bytes ${range.start}-${range.end}/${handle.size}`);
  let sent = 0;
  stream.on('data', (chunk: Buffer) => {
    sent += chunk.length;
  });
  try {
    await pipeline(stream, response);
  } catch {
    ctx.state.facts.aborted = true;
  } finally {
    ctx.state.facts.bytes = sent;
  }
}
