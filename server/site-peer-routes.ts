import type Router from '@koa/router';
import type { TLSSocket } from 'node:tls';
import { RegistryError } from '../oci/registry-error.js';
import { isDigestText, SITE_PREFETCH_PATH, SITE_SUMMARY_PATH, SUMMARY_LIMITS, type MemberSummary } from '../peer/site-summary.js';
import type { SiteKey } from '../site/site-key.js';
import type { EdgePierState } from './request-context.js';

export interface SitePeerRoutesDependencies {
  /** The site key; undefined for an open site, where both routes refuse. */
  readonly siteKey: SiteKey | undefined;
  readonly summary: (holds: readonly string[]) => Promise<MemberSummary>;
  /** Starts a prefetch; resolves the normalised image name. Throws RegistryError on bad input or overload. */
  readonly prefetch: (image: string, pin: boolean) => string;
}

const MAX_IMAGE_TEXT = 512;

/**
 * The two site requests members make of each other besides pulls: a summary for the site
 * view, and "prefetch this image". Members only, proven by the TLS-PSK handshake. On an open
 * site anyone on the LAN can reach this port, so both are refused: a summary would name what
 * the node pulls and holds (private repositories, credentialed layers), which mDNS never
 * tells, and a prefetch would let any host make the node fetch (upstream quota, disk).
 */
export function registerSitePeerRoutes(router: Router<EdgePierState>, deps: SitePeerRoutesDependencies): void {
  router.get(SITE_SUMMARY_PATH, async (ctx) => {
    requireMember(deps.siteKey, ctx.req.socket as Partial<TLSSocket>);
    const raw = typeof ctx.query.holds === 'string' ? ctx.query.holds : '';
    const holds = raw === '' ? [] : raw.split(',');
    if (holds.length > SUMMARY_LIMITS.holdsQuery || !holds.every(isDigestText)) {
      throw new RegistryError('DIGEST_INVALID', `holds: at most ${SUMMARY_LIMITS.holdsQuery} comma-separated digests`);
    }
    ctx.set('Cache-Control', 'no-store');
    ctx.body = await deps.summary(holds);
  });
  router.post(SITE_PREFETCH_PATH, (ctx) => {
    requireMember(deps.siteKey, ctx.req.socket as Partial<TLSSocket>);
    const image = typeof ctx.query.image === 'string' ? ctx.query.image : '';
    if (image === '' || image.length > MAX_IMAGE_TEXT) throw new RegistryError('NAME_INVALID', `image: one reference of at most ${MAX_IMAGE_TEXT} characters`);
    const name = deps.prefetch(image, ctx.query.pin === '1');
    ctx.status = 202;
    ctx.body = { image: name, accepted: true };
  });
}

function requireMember(key: SiteKey | undefined, socket: Partial<TLSSocket>): void {
  if (key === undefined) {
    throw new RegistryError('DENIED', 'an open site has no site view or site prefetch (anyone on the LAN could ask); give the members a --site-key-file');
  }
  if (socket.encrypted !== true) throw new RegistryError('UNAUTHORIZED', 'site members only (TLS with the site key)');
}
