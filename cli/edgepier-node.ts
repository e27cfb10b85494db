import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { CacacheBlobStore } from '../cache/cacache-blob-store.js';
import { CacacheTagStore } from '../cache/cacache-tag-store.js';
import type { EdgePierConfig } from '../config/edgepier-config.js';
import { formatHostPort } from '../config/parse-host-port.js';
import { CompositeDiscovery } from '../discovery/composite-discovery.js';
import { MdnsDiscovery } from '../discovery/mdns-discovery.js';
import type { PeerDiscovery } from '../discovery/peer-discovery.js';
import { StaticDiscovery } from '../discovery/static-discovery.js';
import { PullThroughMirror } from '../mirror/pull-through-mirror.js';
import { RegistryRouter } from '../mirror/registry-router.js';
import { PeerClient } from '../peer/peer-client.js';
import { PeerHealth } from '../peer/peer-health.js';
import { SitePeers } from '../peer/site-peers.js';
import { createApp } from '../server/create-app.js';
import { HttpServer } from '../server/http-server.js';
import { GotRegistryClient } from '../upstream/got-registry-client.js';
import { loadNodeId } from './node-id.js';

/** How long a blob miss waits for the LAN to name holders before going on. */
const HOLDER_LOOKUP_MS = 150;

export interface EdgePierNodeOverrides {
  /** Replaces mDNS/static discovery (in-process multi-node tests use a MemoryLan). */
  readonly discovery?: (context: { nodeId: string; port: number; logger: Logger }) => PeerDiscovery;
}

/**
 * The composition root of one running node: builds every long-lived object from the
 * validated config, and owns their start and shutdown order.
 */
export class EdgePierNode {
  private server: HttpServer | undefined;
  private mirror: PullThroughMirror | undefined;
  private discovery: PeerDiscovery | undefined;
  private address: AddressInfo | undefined;
  nodeId = '';

  constructor(
    private readonly config: EdgePierConfig,
    private readonly logger: Logger,
    private readonly overrides: EdgePierNodeOverrides = {},
  ) {}

  /** The URL this node is reached at (the bound address). */
  get url(): string {
    if (!this.address) throw new Error('node is not started');
    const host = this.address.family === 'IPv6' ? `[${this.address.address}]` : this.address.address;
    return `http://${host}:${this.address.port}`;
  }

  get peerDiscovery(): PeerDiscovery | undefined {
    return this.discovery;
  }

  async start(): Promise<AddressInfo> {
    const config = this.config;
    this.nodeId = await loadNodeId(config.nodeId, config.cacheDir);
    const logger = this.logger.child({ node: this.nodeId });
    const store = new CacacheBlobStore(config.cacheDir);
    const clients = Object.entries(config.upstreams.byHost).map(
      ([registry, url]) =>
        new GotRegistryClient({
          registry,
          url,
          timeoutMs: config.upstreamTimeout,
          logger: logger.child({ component: 'upstream', registry }),
          ...(config.credentials[registry] ? { credentials: config.credentials[registry] } : {}),
        }),
    );
    const router = new RegistryRouter(clients, config.upstreams.default.host);
    // Discovery needs the bound port, the mirror needs discovery: forward the holdings.
    const holdings = {
      holding: (digest: string) => this.discovery?.advertise(digest),
      released: (digest: string) => this.discovery?.withdraw(digest),
    };
    const site = new LazySite();
    this.mirror = new PullThroughMirror({
      store,
      tags: new CacacheTagStore(config.cacheDir),
      logger: logger.child({ component: 'mirror' }),
      tagTimeoutMs: config.tagTimeout,
      peers: site,
      peerMode: config.peerMode,
      holdings,
    });
    const app = createApp({ mirror: this.mirror, router, logger, nodeId: this.nodeId });
    this.server = new HttpServer(app, logger.child({ component: 'server' }));
    this.address = await this.server.listen(config.listen.host, config.listen.port);

    this.discovery = this.createDiscovery(this.address.port, logger.child({ component: 'discovery' }));
    site.attach(
      new SitePeers({
        nodeId: this.nodeId,
        discovery: this.discovery,
        client: new PeerClient({
          nodeId: this.nodeId,
          peerTimeoutMs: config.peerTimeout,
          ownerFetchTimeoutMs: config.upstreamTimeout + config.peerTimeout,
          logger,
        }),
        health: new PeerHealth(),
        logger: logger.child({ component: 'peers' }),
        holderLookupMs: Math.min(HOLDER_LOOKUP_MS, config.peerTimeout),
        peerTimeoutMs: config.peerTimeout,
      }),
    );
    this.discovery.on('peer-up', (peer) => logger.info({ peer: peer.id, url: peer.url }, 'peer up'));
    this.discovery.on('peer-down', (peer) => logger.info({ peer: peer.id, url: peer.url }, 'peer down'));
    await this.discovery.start();
    for await (const blob of store.list()) this.discovery.advertise(blob.digest);
    return this.address;
  }

  /** Stops serving (in-flight responses get a grace period), says goodbye, stops downloads. */
  async close(): Promise<void> {
    await this.server?.close();
    await this.discovery?.close();
    this.mirror?.abortAll('shutting down');
    this.server = undefined;
    this.discovery = undefined;
  }

  private createDiscovery(port: number, logger: Logger): PeerDiscovery {
    if (this.overrides.discovery) return this.overrides.discovery({ nodeId: this.nodeId, port, logger });
    const sources: PeerDiscovery[] = [];
    if (this.config.mdns) {
      sources.push(
        new MdnsDiscovery({
          nodeId: this.nodeId,
          port,
          logger,
          ...(this.config.mdnsInterface ? { interfaceAddress: this.config.mdnsInterface } : {}),
        }),
      );
    }
    if (this.config.peers.length > 0) {
      sources.push(new StaticDiscovery({ peers: this.config.peers.map(formatHostPort), nodeId: this.nodeId, logger }));
    }
    return new CompositeDiscovery(sources);
  }
}

/** Lets the mirror be built before discovery exists (which needs the bound port). */
class LazySite {
  private site: SitePeers | undefined;

  attach(site: SitePeers): void {
    this.site = site;
  }

  blobSources: SitePeers['blobSources'] = (route, digest, options) => this.site?.blobSources(route, digest, options) ?? Promise.resolve([]);
  redirectTarget: SitePeers['redirectTarget'] = (route, digest) => this.site?.redirectTarget(route, digest) ?? Promise.resolve(undefined);
  manifestFromPeers: SitePeers['manifestFromPeers'] = (route, reference) =>
    this.site?.manifestFromPeers(route, reference) ?? Promise.resolve(undefined);
}
