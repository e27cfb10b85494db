import type { Agent as HttpsAgent } from 'node:https';
import type { Logger } from 'pino';
import type { EdgePierConfig } from '../config/edgepier-config.js';
import { formatHostPort } from '../config/parse-host-port.js';
import { CompositeDiscovery } from '../discovery/composite-discovery.js';
import { MdnsDiscovery } from '../discovery/mdns-discovery.js';
import type { PeerDiscovery } from '../discovery/peer-discovery.js';
import { StaticDiscovery } from '../discovery/static-discovery.js';
import { memberFetch } from '../peer/member-fetch.js';
import { PeerClient } from '../peer/peer-client.js';
import { PeerHealth } from '../peer/peer-health.js';
import { SitePeers } from '../peer/site-peers.js';
import type { SiteKey } from '../site/site-key.js';

/** How long a blob miss waits for the LAN to name holders before going on. */
const HOLDER_LOOKUP_MS = 150;

/** The peer side of one node as the config describes it: who it is, and how members are reached. */
export interface NodePeersContext {
  readonly config: EdgePierConfig;
  readonly nodeId: string;
  readonly logger: Logger;
  /** Absent on an open site. */
  readonly siteKey: SiteKey | undefined;
  /** The TLS-PSK agent members are reached with (absent on an open site). */
  readonly peerAgent: HttpsAgent | undefined;
}

/** mDNS and/or the static peer list from the config, as one discovery; `port` is the bound peer API's. */
export function createNodeDiscovery(context: NodePeersContext, port: number): PeerDiscovery {
  const { config, nodeId, siteKey, peerAgent } = context;
  const logger = context.logger.child({ component: 'discovery' });
  const sources: PeerDiscovery[] = [];
  if (config.mdns) {
    sources.push(
      new MdnsDiscovery({
        nodeId,
        port,
        logger,
        ...(config.mdnsInterface ? { interfaceAddress: config.mdnsInterface } : {}),
        ...(siteKey ? { membership: { seal: (fields) => siteKey.announcementMac(fields), verify: (fields, mac) => siteKey.verifyAnnouncement(fields, mac) } } : {}),
      }),
    );
  }
  if (config.peers.length > 0) {
    const scheme = siteKey ? 'https' : 'http';
    sources.push(
      new StaticDiscovery({
        peers: config.peers.map((peer) => `${scheme}://${formatHostPort(peer)}`),
        nodeId,
        logger,
        // A static peer is a member only if it completes the TLS-PSK handshake.
        ...(peerAgent ? { fetchImpl: memberFetch(peerAgent, config.peerTimeout) } : {}),
      }),
    );
  }
  return new CompositeDiscovery(sources);
}

/** The site as the mirror sees it: blob sources, relay roles and manifests from the members `discovery` knows. */
export function createSitePeers(context: NodePeersContext, discovery: PeerDiscovery): SitePeers {
  const { config, nodeId, logger, siteKey, peerAgent } = context;
  return new SitePeers({
    nodeId,
    discovery,
    client: new PeerClient({
      nodeId,
      peerTimeoutMs: config.peerTimeout,
      ownerFetchTimeoutMs: config.upstreamTimeout + config.peerTimeout,
      logger,
      ...(peerAgent ? { httpsAgent: peerAgent } : {}),
    }),
    ...(siteKey ? { siteKey } : {}),
    health: new PeerHealth(),
    logger: logger.child({ component: 'peers' }),
    holderLookupMs: Math.min(HOLDER_LOOKUP_MS, config.peerTimeout),
    fanOut: config.swarmFanOut,
    peerTimeoutMs: config.peerTimeout,
  });
}
