import { Agent as HttpsAgent } from 'node:https';
import type { TlsOptions } from 'node:tls';
import type { SiteKey } from './site-key.js';

/**
 * TLS with the site key as a pre-shared key (RFC 4279, TLS 1.2; Node has no external PSK for
 * TLS 1.3). A handshake completes only if both ends hold the key, so it is mutual
 * authentication with no certificates to issue or distribute, and ECDHE gives forward
 * secrecy: a key that leaks later does not decrypt recorded traffic.
 */
export const PEER_TLS_CIPHERS = 'ECDHE-PSK-CHACHA20-POLY1305:DHE-PSK-AES256-GCM-SHA384';

/** Identities are node ids; bounded so a handshake cannot make us hold much. */
const MAX_IDENTITY_LENGTH = 128;

export function peerTlsServerOptions(key: SiteKey): TlsOptions {
  return {
    ciphers: PEER_TLS_CIPHERS,
    minVersion: 'TLSv1.2',
    maxVersion: 'TLSv1.2',
    pskCallback: (_socket, identity) => (identity.length > 0 && identity.length <= MAX_IDENTITY_LENGTH ? key.tlsPsk : null),
  };
}

/** A keep-alive agent that speaks the peer API's TLS-PSK, naming this node as the identity. */
export function peerHttpsAgent(key: SiteKey, nodeId: string): HttpsAgent {
  return new HttpsAgent({
    keepAlive: true,
    ciphers: PEER_TLS_CIPHERS,
    minVersion: 'TLSv1.2',
    maxVersion: 'TLSv1.2',
    pskCallback: () => ({ identity: nodeId, psk: key.tlsPsk }),
    // The PSK authenticates the server; there is no certificate or host name to check.
    checkServerIdentity: () => undefined,
  });
}
