import type Router from '@koa/router';
import { RegistryError } from '../oci/registry-error.js';
import { sendPage, sendSnapshot } from './page-response.js';
import type { EdgePierState } from './request-context.js';
import { renderSitePage } from './site-page.js';
import type { SiteView } from './site-view.js';

const MAX_IMAGE_TEXT = 512;

/**
 * The site view on the client API: `/site` (HTML), `/site.json` (what `edgepier status --site`
 * reads), and `POST /site/prefetch?image=&pin=1` (what `edgepier prefetch --site` sends). The
 * client API serves this node's operators (loopback and --client-allow), so the view is theirs.
 */
export function registerSiteRoutes(router: Router<EdgePierState>, site: SiteView): void {
  router.get('/site.json', async (ctx) => {
    sendSnapshot(ctx, await site.gather());
  });
  router.get('/site', async (ctx) => {
    const snapshot = await site.gather();
    // ?refresh=0 stops the reloading (to read or copy in peace), up to 60 s between reloads.
    const asked = typeof ctx.query.refresh === 'string' && /^\d{1,2}$/.test(ctx.query.refresh) ? Number(ctx.query.refresh) : 2;
    sendPage(ctx, renderSitePage(snapshot, Math.min(asked, 60)));
  });
  router.post('/site/prefetch', async (ctx) => {
    const image = typeof ctx.query.image === 'string' ? ctx.query.image : '';
    if (image === '' || image.length > MAX_IMAGE_TEXT) throw new RegistryError('NAME_INVALID', `image: one reference of at most ${MAX_IMAGE_TEXT} characters`);
    ctx.status = 202;
    ctx.body = await site.prefetch(image, ctx.query.pin === '1');
  });
}
