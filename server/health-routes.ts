import type Router from '@koa/router';
import { checkReadiness, type ReadinessCheck } from './health.js';
import type { EdgePierState } from './request-context.js';

/**
 * `/healthz`: the process answers (liveness; never depends on the network or the disk, so a
 * slow disk does not get the container restarted). `/readyz`: every readiness check passes.
 */
export function registerHealthRoutes(router: Router<EdgePierState>, checks: readonly ReadinessCheck[]): void {
  router.get('/healthz', (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { status: 'ok', uptimeSeconds: Math.round(process.uptime()) };
  });
  router.get('/readyz', async (ctx) => {
    const report = await checkReadiness(checks);
    ctx.set('Cache-Control', 'no-store');
    ctx.status = report.ready ? 200 : 503;
    ctx.body = { status: report.ready ? 'ready' : 'not ready', checks: report.checks };
  });
}
