import type Koa from 'koa';
import type { Logger } from 'pino';
import { NODE_HEADER } from '../discovery/node-headers.js';
import type { ServedRequest } from './metrics-served-request.js';
import { ociErrorStatus, toRegistryError, writeOciError } from './oci-error-response.js';
import type { EdgePierState } from './request-context.js';

/** Scraped and probed often: logged at debug, not once per probe at info. */
const OPS_PATHS: ReadonlySet<string> = new Set(['/', '/metrics', '/healthz', '/readyz', '/status.json']);

export interface RequestLogOptions {
  readonly logger: Logger;
  readonly nodeId: string;
  /** Told about every request that was answered. */
  readonly observers: ReadonlyArray<{ requestServed(request: ServedRequest): void }>;
  /** `client` or `peer`: which listener the line is from. */
  readonly api: 'client' | 'peer';
}

/**
 * First in every chain: turns every failure into OCI error JSON, and logs one line per
 * request with what the handler learned.
 */
export function requestLogMiddleware(options: RequestLogOptions): Koa.Middleware<EdgePierState> {
  const { logger, nodeId, observers, api } = options;
  return async (ctx, next) => {
    const started = performance.now();
    ctx.state.facts = {};
    ctx.set(NODE_HEADER, nodeId);
    try {
      await next();
    } catch (error) {
      const ociError = toRegistryError(error);
      if (ociErrorStatus(ociError) >= 500) logger.error({ err: error, path: ctx.path, api }, 'request failed');
      writeOciError(ctx, ociError);
    }
    const facts = ctx.state.facts;
    const ms = Math.round(performance.now() - started);
    const line = { api, method: ctx.method, path: ctx.path.slice(0, 512), status: ctx.status, ms, ...facts };
    if (OPS_PATHS.has(ctx.path)) logger.debug(line, 'request');
    else logger.info(line, 'request');
    const namespace = typeof ctx.query.ns === 'string' ? ctx.query.ns : undefined;
    const served: ServedRequest = { method: ctx.method, path: ctx.path, status: ctx.status, ms, at: Date.now(), facts, ...(namespace ? { namespace } : {}) };
    for (const observer of observers) observer.requestServed(served);
  };
}
