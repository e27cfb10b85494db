import Router from '@koa/router';
import Koa from 'koa';
import type { Logger } from 'pino';
import type { PullThroughMirror } from '../mirror/pull-through-mirror.js';
import type { RegistryRouter } from '../mirror/registry-router.js';
import type { SiteKey } from '../site/site-key.js';
import { noSuchEndpoint } from './create-app.js';
import type { PrometheusMetrics } from './metrics-prometheus.js';
import { peerAdmission } from './peer-admission.js';
import { createRegistryHandler } from './registry-handler.js';
import type { EdgePierState } from './request-context.js';
import { requestLogMiddleware } from './request-log-middleware.js';
import { registerSitePeerRoutes, type SitePeerRoutesDependencies } from './site-peer-routes.js';

export interface PeerAppDependencies {
  readonly mirror: PullThroughMirror;
  readonly router: RegistryRouter;
  readonly logger: Logger;
  readonly nodeId: string;
  /** The site key; undefined for an open site. */
  readonly siteKey: SiteKey | undefined;
  readonly metrics?: PrometheusMetrics;
  /** The site view's summary and site prefetch (members only; absent in tests of the pull API). */
  readonly site?: Omit<SitePeerRoutesDependencies, 'siteKey'>;
}

/**
 * The peer API: the pull API for other members, plus the members-only site summary and site
 * prefetch — no status page, no metrics, no status.json. Every request here is a peer's.
 */
export function createPeerApp(deps: PeerAppDependencies): Koa<EdgePierState> {
  const app = new Koa<EdgePierState>();
  const logger = deps.logger.child({ component: 'peer-http' });
  app.use(requestLogMiddleware({ logger, nodeId: deps.nodeId, api: 'peer', observers: deps.metrics ? [deps.metrics] : [] }));
  const router = new Router<EdgePierState>();
  router.all('/v2{/*rest}', createRegistryHandler({ mirror: deps.mirror, router: deps.router, logger, originOf: peerAdmission(deps.siteKey) }));
  if (deps.site) registerSitePeerRoutes(router, { ...deps.site, siteKey: deps.siteKey });
  app.use(router.routes());
  app.use(noSuchEndpoint);
  app.on('error', (error: unknown) => logger.debug({ err: error }, 'koa error after response'));
  return app;
}
