import { pipeline } from 'node:stream/promises';
import type { Context } from 'koa';
import type { Logger } from 'pino';
import type { PullThroughMirror } from '../mirror/pull-through-mirror.js';
import type { RegistryRoute, RegistryRouter } from '../mirror/registry-router.js';
import { rangeLength, resolveRange } from '../oci/byte-range.js';
import type { Digest } from '../oci/digest.js';
import { BLOB_MEDIA_TYPE } from '../oci/media-types.js';
import { RegistryError } from '../oci/registry-error.js';
import { parseRequestPath, type ManifestReference } from '../oci/parse-request-path.js';
import { API_VERSION_HEADER } from './oci-error-response.js';
import { RESOLVED_AT_HEADER } from '../peer/peer-protocol.js';
import type { RequestOrigin } from '../mirror/request-origin.js';
import { SOURCE_HEADER, STALE_HEADER } from './headers.js';
import { serveReferrers } from './referrers-response.js';
import type { EdgePierState } from './request-context.js';
import { serveTagList } from './tag-list-response.js';
import { errorCode } from '../cache/blob-store.js';

export type RegistryContext = Context & { state: EdgePierState };

/** What a `/v2/<name>/...` request asks for (the base `/v2/` is answered before routing). */
export type RequestKind = 'manifest' | 'blob' | 'tags' | 'referrers';

export interface RegistryHandlerDependencies {
  readonly mirror: PullThroughMirror;
  readonly router: RegistryRouter;
  /**
   * Who is asking, decided by the listener: always a local client on the client API; a
   * member (or a redirected client with a ticket) on the peer API. Throws to refuse.
   * `byTag`: the answer is not content-addressed (a tag, a tag list, a referrers list), so
   * nothing could check it.
   */
  readonly originOf: (ctx: RegistryContext, request: { route: RegistryRoute; kind: RequestKind; byTag: boolean }) => RequestOrigin;
  readonly logger: Logger;
}

/** The one handler behind `/v2/*`: parse the path once, route to a registry, answer. */
export function createRegistryHandler(deps: RegistryHandlerDependencies): (ctx: RegistryContext) => Promise<void> {
  return async (ctx) => {
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD') {
      throw new RegistryError('UNSUPPORTED', `${ctx.method} is not supported: EdgePier is a pull-only mirror`);
    }
    ctx.set(API_VERSION_HEADER);
    const target = parseRequestPath(ctx.path);
    if (target.kind === 'base') {
      ctx.type = 'application/json';
      ctx.body = '{}';
      return;
    }
    const namespace = typeof ctx.query.ns === 'string' ? ctx.query.ns : undefined;
    if (Array.isArray(ctx.query.ns)) throw new RegistryError('NAME_INVALID', 'ns may be given once');
    const route = deps.router.resolve(target.name, namespace);
    if (namespace !== undefined) ctx.set('OCI-Namespace', namespace);
    const byTag = (target.kind === 'manifest' && target.reference.kind === 'tag') || target.kind === 'tags' || target.kind === 'referrers';
    const origin = deps.originOf(ctx, { route, kind: target.kind, byTag });
    if (origin.peerId !== undefined) ctx.state.facts.peer = origin.peerId;
    if (target.kind === 'manifest') {
      await serveManifest(ctx, deps.mirror, route, target.reference, origin);
    } else if (target.kind === 'tags') {
      await serveTagList(ctx, deps.mirror, route, target.name, origin);
    } else if (target.kind === 'referrers') {
      await serveReferrers(ctx, deps.mirror, route, target.digest, origin);
    } else {
      await serveBlob(ctx, deps.mirror, route, target.digest, origin, deps.logger);
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
  logger: Logger,
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
  const response = ctx.res;
  // The response is the stream's one consumer and writes every chunk out: once nothing is
  // queued on it, the store may read the next chunk into the last one's memory.
  const stream = await handle.open(range, { consumed: () => response.writableLength === 0 });
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
  // Whichever side broke first is the cause: pipeline then destroys the other with it.
  let brokeFirst: 'client' | 'source' | undefined;
  response.once('close', () => {
    if (!response.writableFinished) brokeFirst ??= 'client';
  });
  stream.once('error', () => {
    brokeFirst ??= 'source';
  });
  try {
    await pipeline(stream, response);
  } catch (error) {
    ctx.state.facts.aborted = true;
    const code = errorCode(error) ?? 'ERROR';
    ctx.state.facts.error = code;
    // The headers are out: the cut connection is all the client learns, so the log must say why.
    const line = { digest: digest.value, source: handle.source, sent, err: error instanceof Error ? error.message : String(error), code };
    if (brokeFirst === 'client') logger.info(line, 'client went away mid-stream');
    else logger.warn(line, 'blob stream failed mid-response');
  } finally {
    ctx.state.facts.bytes = sent;
  }
}
