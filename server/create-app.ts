import Router from '@koa/router';
import Koa from 'koa';
import type { Logger } from 'pino';
import type { ClientAllowList } from '../config/client-allow-list.js';
import type { PullThroughMirror } from '../mirror/pull-through-mirror.js';
import type { RegistryRouter } from '../mirror/registry-router.js';
import { RegistryError } from '../oci/registry-error.js';
import { createRegistryHandler } from './registry-handler.js';
import type { EdgePierState } from './request-context.js';
import { registerHealthRoutes } from './health-routes.js';
import type { ReadinessCheck } from './health.js';
import type { PrometheusMetrics } from './metrics-prometheus.js';
import { registerMetricsRoute } from './metrics-route.js';
import { requestLogMiddleware } from './request-log-middleware.js';
import type { StatusBoard } from './status-board.js';
import { registerStatusRoutes } from './status-routes.js';
import { registerSiteRoutes } from './site-routes.js';
import type { SiteView } from './site-view.js';

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
  /** Serves `/site`, `/site.json` and `POST /site/prefetch`. */
  readonly site?: SiteView;
  /** Who may use this API; unset: anyone who can connect (tests on loopback). */
  readonly allow?: ClientAllowList;
}

/**
 * The client API: this node's runtimes (and a gateway's allowed hosts) pull here, operators
 * read status and metrics. Every request is a local client's: peer markers mean nothing
 * here, peers have their own listener. It never listens: the caller mounts it (tests on port 0).
 */
export function createApp(deps: AppDependencies): Koa<EdgePierState> {
  const app = new Koa<EdgePierState>();
  const logger = deps.logger.child({ component: 'http' });
  app.use(requestLogMiddleware({ logger, nodeId: deps.nodeId, api: 'client', observers: [deps.metrics, deps.status].filter((o) => o !== undefined) }));
  const allow = deps.allow;
  if (allow) {
    app.use(async (ctx, next) => {
      if (!allow.allows(ctx.req.socket.remoteAddress)) {
        throw new RegistryError('DENIED', 'this host is not in --client-allow of this node', { detail: { client: ctx.req.socket.remoteAddress } });
      }
      await next();
    });
  }

  const router = new Router<EdgePierState>();
  router.all('/v2{/*rest}', createRegistryHandler({ mirror: deps.mirror, router: deps.router, logger, originOf: () => ({ fromPeer: false }) }));
  if (deps.readiness) registerHealthRoutes(router, deps.readiness);
  if (deps.metrics) registerMetricsRoute(router, deps.metrics);
  if (deps.status) registerStatusRoutes(router, deps.status);
  if (deps.site) registerSiteRoutes(router, deps.site);
  app.use(router.routes());
  app.use(noSuchEndpoint);
  // Koa logs errors on its own when nobody listens; ours are logged above already.
  app.on('error', (error: unknown) => logger.debug({ err: error }, 'koa error after response'));
  return app;
}

/** Last in a chain: what no route answered is a 400 with OCI JSON, not koa's text 404. */
export function noSuchEndpoint(ctx: Koa.Context): void {
  if (ctx.body === undefined && !ctx.headerSent && ctx.respond !== false) {
    throw new RegistryError('PATH_INVALID', `no such endpoint: ${ctx.path.slice(0, 128)}`);
  }
}
