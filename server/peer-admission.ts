import type { TLSSocket } from 'node:tls';
import { RegistryError } from '../oci/registry-error.js';
import { PEER_HEADER } from '../discovery/node-headers.js';
import { OWNER_FETCH_HEADER, OWNER_FETCH_QUERY, PEER_QUERY } from '../peer/peer-protocol.js';
import { TICKET_EXPIRES_QUERY, TICKET_QUERY, verifyRedirect } from '../site/redirect-ticket.js';
import type { SiteKey } from '../site/site-key.js';
import type { RegistryHandlerDependencies } from './registry-handler.js';

const MAX_PEER_ID = 64;

/**
 * Who may ask what on the peer API.
 * - With a site key: a request over the TLS-PSK channel comes from a member (the handshake
 *   proved the key). A plain-HTTP request is a redirected runtime and must carry a ticket a
 *   member signed for exactly this blob; anything else is refused.
 * - Without a key (an open site) anyone on the LAN can connect, so nobody is trusted: content
 *   fetched with credentials is unknown, no fetch with credentials is made for anyone, and
 *   tags are not answered (an open site never takes a tag from a peer either).
 */
export function peerAdmission(key: SiteKey | undefined, now: () => number = Date.now): RegistryHandlerDependencies['originOf'] {
  return (ctx, request) => {
    const header = (name: string): string => ctx.get(name);
    const query = (name: string): string | undefined => (typeof ctx.query[name] === 'string' ? ctx.query[name] : undefined);
    const encrypted = (ctx.req.socket as Partial<TLSSocket>).encrypted === true;
    if (key !== undefined && encrypted) {
      return { fromPeer: true, ownerFetch: header(OWNER_FETCH_HEADER) === '1', peerId: (header(PEER_HEADER) || 'member').slice(0, MAX_PEER_ID) };
    }
    if (key !== undefined) {
      const ticket = query(TICKET_QUERY);
      if (ticket === undefined) throw new RegistryError('UNAUTHORIZED', 'the peer API serves site members only (TLS with the site key), or a redirect ticket');
      const issuer = query(PEER_QUERY) ?? '';
      const grant = {
        path: ctx.path,
        registry: query('ns') ?? '',
        issuer,
        ownerFetch: query(OWNER_FETCH_QUERY) === '1',
        expires: Number(query(TICKET_EXPIRES_QUERY)),
      };
      const verdict = request.kind === 'blob' && Number.isSafeInteger(grant.expires) ? verifyRedirect(key, grant, ticket, now()) : 'forged';
      if (verdict !== 'valid') throw new RegistryError('UNAUTHORIZED', `redirect ticket ${verdict}`);
      return { fromPeer: true, ownerFetch: grant.ownerFetch, peerId: issuer.slice(0, MAX_PEER_ID) };
    }
    if (request.route.authenticated) {
      throw new RegistryError('DENIED', 'an open site shares only anonymously fetched content; give the members a --site-key-file to share this registry');
    }
    if (request.byTag) throw new RegistryError('MANIFEST_UNKNOWN', 'an open site does not answer tags to peers');
    const peer = header(PEER_HEADER) || query(PEER_QUERY) || 'anonymous';
    const ownerFetch = header(OWNER_FETCH_HEADER) === '1' || query(OWNER_FETCH_QUERY) === '1';
    return { fromPeer: true, ownerFetch, peerId: peer.slice(0, MAX_PEER_ID), publicOnly: true };
  };
}
