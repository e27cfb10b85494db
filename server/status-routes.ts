import type Router from '@koa/router';
import type { StatusBoard } from './status-board.js';
import { renderStatusPage, STATUS_PAGE_CSP } from './status-page.js';
import type { EdgePierState } from './request-context.js';

/** `/` (the HTML status page) and `/status.json` (what `edgepier status` reads). */
export function registerStatusRoutes(router: Router<EdgePierState>, board: StatusBoard): void {
  router.get('/status.json', async (ctx) => {
    const snapshot = await board.snapshot();
    ctx.set('Cache-Control', 'no-store');
    ctx.body = snapshot;
  });
  router.get('/', async (ctx) => {
    const snapshot = await board.snapshot();
    ctx.set('Cache-Control', 'no-store');
    ctx.set('Content-Security-Policy', STATUS_PAGE_CSP);
    ctx.set('X-Content-Type-Options', 'nosniff');
    ctx.type = 'text/html; charset=utf-8';
    ctx.body = renderStatusPage(snapshot);
  });
}
