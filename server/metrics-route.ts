import type Router from '@koa/router';
import type { PrometheusMetrics } from './metrics-prometheus.js';
import type { EdgePierState } from './request-context.js';

/** `/metrics` in the Prometheus text exposition format. */
export function registerMetricsRoute(router: Router<EdgePierState>, metrics: PrometheusMetrics): void {
  router.get('/metrics', async (ctx) => {
    const body = await metrics.render();
    ctx.set('Cache-Control', 'no-store');
    ctx.type = metrics.contentType;
    ctx.body = body;
  });
}
