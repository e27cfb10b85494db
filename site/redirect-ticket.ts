import type { SiteKey } from './site-key.js';

/** How long a redirect stays valid: clients follow a 307 at once, so a minute is plenty. */
export const REDIRECT_TICKET_TTL_MS = 60_000;

export const TICKET_EXPIRES_QUERY = 'edgepier-expires';
export const TICKET_QUERY = 'edgepier-ticket';

/** What a redirected client may ask of the member it is sent to. */
export interface RedirectGrant {
  /** `/v2/<name>/blobs/<digest>` */
  readonly path: string;
  readonly registry: string;
  /** The member that issued the redirect. */
  readonly issuer: string;
  readonly ownerFetch: boolean;
  /** Epoch seconds. */
  readonly expires: number;
}

function fields(grant: RedirectGrant): string {
  return JSON.stringify([grant.path, grant.registry, grant.issuer, grant.ownerFetch, grant.expires]);
}

/**
 * Signed URLs for redirect mode: a runtime holds no site key and cannot speak the peer API's
 * TLS, so a member sends it to another member with a short-lived ticket instead, as object
 * stores do with signed URLs. The ticket names one blob path and nothing else.
 */
export function signRedirect(key: SiteKey, grant: RedirectGrant): string {
  return key.ticketMac(fields(grant));
}

export function verifyRedirect(key: SiteKey, grant: RedirectGrant, mac: string, nowMs: number): 'valid' | 'expired' | 'forged' {
  if (!key.verifyTicket(fields(grant), mac)) return 'forged';
  return grant.expires * 1000 < nowMs ? 'expired' : 'valid';
}
