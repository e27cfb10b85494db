import type Router from '@koa/router';
import { sendPage, sendSnapshot } from './page-response.js';
import type { EdgePierState } from './request-context.js';
import type { StatusBoard } from './status-board.js';
import { renderStatusPage } from './status-page.js';

/** `/` (the HTML status page) and `/status.json` (what `edgepier status` reads). */
export function registerStatusRoutes(router: Router<EdgePierState>, board: StatusBoard): void {
  router.get('/status.json', async (ctx) => {
    sendSnapshot(ctx, await board.snapshot());
  });
  router.get('/', async (ctx) => {
    sendPage(ctx, renderStatusPage(await board.snapshot()));
  });
}
