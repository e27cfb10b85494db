import Router from '@koa/router';
import Koa from 'koa';
import type { Logger } from 'pino';
import type { PullThroughMirror } from '../mirror/pull-through-mirror.js';
import type { RegistryRouter } from '../mirror/registry-router.js';
import { OciError } from '../oci/oci-error.js';
import { NODE_HEADER } from './headers.js';
import { toOciError, writeOciError } from './oci-error-response.js';
import { createRegistryHandler } from './registry-handler.js';
import type { EdgePierState } from './request-context.js';
import { registerHealthRoutes } from './health-routes.js';
import type { ReadinessCheck } from './health.js';
import type { PrometheusMetrics } from './metrics-prometheus.js';
import { registerMetricsRoute } from './metrics-route.js';
import type { ServedRequest } from './metrics-served-request.js';
import type { StatusBoard } from './status-board.js';
import { registerStatusRoutes } from './status-routes.js';

export interface AppDependencies {
  readonly mirror: PullThroughMirror;
  readonly router: RegistryRouter;
  readonly logger: Logger;
  readonly nodeId: string;
  /** Serves `/metrics` and is told about every request. */
  readonly metrics?: PrometheusMetrics;
  /** Serves `/` and `/status.json` and is told about every request. */
  readonly status?: StatusBoard;
  /** Serves `/healthz` and `/readyz` (ready when every check passes). */
  readonly readiness?: readonly ReadinessCheck[];
}

/** Scraped and probed often: logged at debug, not once per probe at info. */
const OPS_PATHS: ReadonlySet<string> = new Set(['/', '/metrics', '/healthz', '/readyz', '/status.json']);

/** Builds the koa application. It never listens: the caller mounts it (tests on port 0). */
export function createApp(deps: AppDependencies): Koa<EdgePierState> {
  const app = new Koa<EdgePierState>();
  const logger = deps.logger.child({ component: 'http' });

  // First in the chain: turns every failure into OCI error JSON, and logs one line per request.
  app.use(async (ctx, next) => {
    const started = performance.now();
    ctx.state.facts = {};
    ctx.set(NODE_HEADER, deps.nodeId);
    try {
      await next();
    } catch (error) {
      const ociError = toOciError(error);
      if (ociError.status >= 500) logger.error({ err: error, path: ctx.path }, 'request failed');
      writeOciError(ctx, ociError);
    }
    const facts = ctx.state.facts;
    const ms = Math.round(performance.now() - started);
    const line = { method: ctx.method, path: ctx.path.slice(0, 512), status: ctx.status, ms, ...facts };
    if (OPS_PATHS.has(ctx.path)) logger.debug(line, 'request');
    else logger.info(line, 'request');
    const namespace = typeof ctx.query.ns === 'string' ? ctx.query.ns : undefined;
    const served: ServedRequest = { method: ctx.method, path: ctx.path, status: ctx.status, ms, at: Date.now(), facts, ...(namespace ? { namespace } : {}) };
    deps.metrics?.requestServed(served);
    deps.status?.requestServed(served);
  });

  const router = new Router<EdgePierState>();
  router.all('/v2{/*rest}', createRegistryHandler(deps));
  if (deps.readiness) registerHealthRoutes(router, deps.readiness);
  if (deps.metrics) registerMetricsRoute(router, deps.metrics);
  if (deps.status) registerStatusRoutes(router, deps.status);
  app.use(router.routes());
  app.use((ctx) => {
    if (ctx.body === undefined && !ctx.headerSent && ctx.respond !== false) {
      throw new OciError('PATH_INVALID', `no such endpoint: ${ctx.path.slice(0, 128)}`);
    }
  });
  // Koa logs errors on its own when nobody listens; ours are logged above already.
  app.on('error', (error: unknown) => logger.debug({ err: error }, 'koa error after response'));
  return app;
}
