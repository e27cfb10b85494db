import type { Agent as HttpsAgent } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { CacacheBlobStore } from '../cache/cacache-blob-store.js';
import { BudgetedBlobStore } from '../cache/budgeted-blob-store.js';
import { resolveCacheBudget } from '../cache/cache-budget.js';
import { removeStaleSpools } from '../cache/cache-gc.js';
import { PinFile } from '../cache/pins.js';
import { PrivateDigestList } from '../cache/private-digest-list.js';
import { ClientAllowList } from '../config/client-allow-list.js';
import { UsageJournal } from '../cache/usage-journal.js';
import { CacacheReferrersStore } from '../cache/cacache-referrers-store.js';
import { CacacheTagStore } from '../cache/cacache-tag-store.js';
import type { EdgePierConfig } from '../config/edgepier-config.js';
import type { PeerDiscovery } from '../discovery/peer-discovery.js';
import { PullThroughMirror } from '../mirror/pull-through-mirror.js';
import { RegistryRouter } from '../mirror/registry-router.js';
import { PeerClient } from '../peer/peer-client.js';
import { createApp } from '../server/create-app.js';
import { createPeerApp } from '../server/create-peer-app.js';
import { PeerServer } from '../server/peer-server.js';
import { peerHttpsAgent, peerTlsServerOptions } from '../site/peer-tls.js';
import { loadSiteKey, type SiteKey } from '../site/site-key.js';
import { HttpServer } from '../server/http-server.js';
import type { ListenerLimits } from '../server/server-lifecycle.js';
import { exposeGc } from './expose-gc.js';
import { flagCheck, writableDirectoryCheck } from '../server/health.js';
import { CacheUsageSampler } from '../server/metrics-cache-usage.js';
import { PrometheusMetrics, type ListenerName } from '../server/metrics-prometheus.js';
import { StatusBoard } from '../server/status-board.js';
import { GotRegistryClient } from '../upstream/got-registry-client.js';
import { loadUpstreamTrust } from '../upstream/upstream-trust.js';
import { startTransparentProxy } from '../transparent/start-transparent-proxy.js';
import type { TransparentProxy } from '../transparent/transparent-proxy.js';
import { LazySite } from './lazy-site.js';
import { loadNodeId } from './node-id.js';
import { createNodeDiscovery, createSitePeers, type NodePeersContext } from './node-peers.js';
import { createNodeSiteView, SITE_SUMMARY_MIN_TIMEOUT_MS } from './node-site-view.js';
import { edgepierVersion } from './version.js';

export interface EdgePierNodeOverrides {
  /** Replaces mDNS/static discovery (in-process multi-node tests use a MemoryLan). */
  readonly discovery?: (context: { nodeId: string; port: number; logger: Logger; url: string }) => PeerDiscovery;
}

/**
 * The composition root of one running node: builds every long-lived object from the
 * validated config, and owns their start and shutdown order.
 */
export class EdgePierNode {
  private server: HttpServer | undefined;
  private peerServer: PeerServer | undefined;
  private peerAddress: AddressInfo | undefined;
  private siteKey: SiteKey | undefined;
  private proxy: TransparentProxy | undefined;
  private proxyAddress: AddressInfo | undefined;
  private mirror: PullThroughMirror | undefined;
  private discovery: PeerDiscovery | undefined;
  private cacheStore: BudgetedBlobStore | undefined;
  private address: AddressInfo | undefined;
  private listening = false;
  private discoveryStarted = false;
  nodeId = '';
  /** Prometheus metrics of this node; `cacheEvicted` is for the cache layer to call. */
  readonly metrics = new PrometheusMetrics({
    inflightDownloads: () => this.mirror?.activeDownloads ?? 0,
    livePeers: () => this.discovery?.peers().length ?? 0,
    cacheUsage: () => this.cacheUsage().current(),
    version: edgepierVersion(),
  });
  private usage: CacheUsageSampler | undefined;
  private peerAgent: HttpsAgent | undefined;
  /** Asks members for their site summaries and to prefetch (the site view). */
  private siteClient: PeerClient | undefined;

  constructor(
    private readonly config: EdgePierConfig,
    private readonly logger: Logger,
    private readonly overrides: EdgePierNodeOverrides = {},
  ) {}

  /** The URL this node is reached at (the bound address). */
  get url(): string {
    if (!this.address) throw new Error('node is not started');
    return formatUrl('http', this.address);
  }

  /** The peer API's URL (`https` on a keyed site). */
  get peerUrl(): string {
    if (!this.peerAddress) throw new Error('node is not started');
    return formatUrl(this.siteKey ? 'https' : 'http', this.peerAddress);
  }

  /** `http://HOST:PORT` of the transparent-mode proxy, when it runs. */
  get proxyUrl(): string | undefined {
    return this.proxyAddress ? formatUrl('http', this.proxyAddress) : undefined;
  }

  get peerDiscovery(): PeerDiscovery | undefined {
    return this.discovery;
  }

  async start(): Promise<AddressInfo> {
    const config = this.config;
    this.nodeId = await loadNodeId(config.nodeId, config.cacheDir);
    const logger = this.logger.child({ node: this.nodeId });
    // Start-up gc: nothing writes yet, so every spool in <cache>/tmp is a crash's leftover.
    const spools = await removeStaleSpools(config.cacheDir, { minAgeMs: 0 });
    if (spools.files > 0) logger.info(spools, 'removed spools of interrupted downloads');
    const store = (this.cacheStore = new BudgetedBlobStore({
      inner: new CacacheBlobStore(config.cacheDir),
      logger: logger.child({ component: 'cache' }),
      journal: new UsageJournal(config.cacheDir),
      pins: new PinFile(config.cacheDir),
      budget: await resolveCacheBudget(config.cacheMaxSize, config.cacheLowWater, config.cacheDir),
      ...(config.spoolMaxSize > 0 ? { maxSpoolBytes: config.spoolMaxSize } : {}),
      onRemoved: (digest, reason, bytes) => {
        this.discovery?.withdraw(digest);
        if (reason === 'evicted') this.metrics.cacheEvicted(1, bytes);
      },
      onAdded: (digest) => this.discovery?.advertise(digest),
    }));
    const siteKey = (this.siteKey = config.siteKeyFile === null ? undefined : await loadSiteKey(config.siteKeyFile));
    if (siteKey) {
      logger.info({ siteKey: siteKey.fingerprint }, 'site key loaded: peers are members only, over TLS-PSK');
    } else {
      logger.warn(
        'open site: no --site-key-file, so any host on the LAN can act as a peer; sharing only anonymously fetched content and ' +
          'taking no tags from peers. Close it: edgepier site-key generate FILE, copy FILE to every member, --site-key-file FILE',
      );
    }
    const trust = await loadUpstreamTrust({ extraCaFile: config.upstreamCaFile, env: process.env });
    logger.info({ trust: trust.description }, 'upstream TLS is verified against these CAs');
    const clients = Object.entries(config.upstreams.byHost).map(
      ([registry, url]) =>
        new GotRegistryClient({
          registry,
          url,
          timeoutMs: config.upstreamTimeout,
          logger: logger.child({ component: 'upstream', registry }),
          observer: this.metrics,
          httpsAgent: trust.agent,
          ...(config.credentials[registry] ? { credentials: config.credentials[registry] } : {}),
        }),
    );
    const router = new RegistryRouter(clients, config.upstreams.default.host, Object.keys(config.credentials));
    // Discovery needs the bound port, the mirror needs discovery: forward the holdings.
    const holdings = { holding: (digest: string) => this.discovery?.advertise(digest) };
    const peers = new LazySite();
    this.mirror = new PullThroughMirror({
      store,
      tags: new CacacheTagStore(config.cacheDir),
      referrers: new CacacheReferrersStore(config.cacheDir),
      logger: logger.child({ component: 'mirror' }),
      tagTimeoutMs: config.tagTimeout,
      peers,
      tagMembers: peers,
      peerMode: config.peerMode,
      holdings,
      privateContent: await PrivateDigestList.load(config.cacheDir),
      pace: {
        stallMs: config.downloadStallTimeout,
        minBytesPerSecond: config.downloadMinRate,
        rateWindowMs: config.downloadRateWindow,
        hedgeAfterMs: config.peerHedgeDelay,
      },
    });
    this.usage = new CacheUsageSampler({
      store,
      cacheDir: config.cacheDir,
      budget: config.cacheMaxSize,
      tally: () => ({ usedBytes: store.usedBytes, blobs: store.blobCount }),
      maxAgeMs: 1_000,
    });
    const status = new StatusBoard({
      nodeId: () => this.nodeId,
      metrics: () => this.metrics.snapshot(),
      cacheUsage: () => this.cacheUsage().current(),
      inflightDownloads: () => this.mirror?.activeDownloads ?? 0,
    });
    const readiness = [
      flagCheck('listening', () => this.listening, 'the HTTP server is not accepting connections'),
      writableDirectoryCheck('cache', config.cacheDir),
      flagCheck('discovery', () => this.discoveryStarted, 'peer discovery has not started'),
      ...(config.proxyListen ? [flagCheck('proxy', () => this.proxy !== undefined, 'the transparent proxy is not accepting connections')] : []),
    ];
    const mirror = this.mirror;
    const site = createNodeSiteView({
      cacheDir: config.cacheDir,
      peerTimeoutMs: config.peerTimeout,
      keyed: siteKey !== undefined,
      nodeId: () => this.nodeId,
      status,
      metrics: () => this.metrics.snapshot(),
      downloads: () => mirror.downloadsInFlight(),
      store,
      livePeers: () => this.discovery?.peers() ?? [],
      siteClient: () => this.requireSiteClient(),
      loopbackUrl: () => this.loopbackUrl(),
      logger,
    });
    const allow = new ClientAllowList(config.clientAllow);
    const app = createApp({ mirror: this.mirror, router, logger, nodeId: this.nodeId, metrics: this.metrics, status, readiness, allow, site: site.view });
    const limits = (listener: ListenerName): ListenerLimits => ({
      sendTimeoutMs: config.sendTimeout,
      idleTimeoutMs: config.idleTimeout,
      maxConnections: config.maxConnections,
      onSendTimeout: () => this.metrics.sendTimedOut(listener),
      onRefused: () => this.metrics.connectionRefused(listener),
      ...(listener === 'client' ? { collectGarbage: exposeGc() } : {}),
    });
    this.server = new HttpServer(app, logger.child({ component: 'server' }), limits('client'));
    this.address = await this.server.listen(config.listen.host, config.listen.port);
    const peerApp = createPeerApp({
      mirror: this.mirror,
      router,
      logger,
      nodeId: this.nodeId,
      siteKey,
      metrics: this.metrics,
      site: { summary: site.summary, prefetch: site.prefetch },
    });
    this.peerServer = new PeerServer(peerApp, logger.child({ component: 'peer-server' }), siteKey ? peerTlsServerOptions(siteKey) : undefined, limits('peer'));
    this.peerAddress = await this.peerServer.listen(config.peerListen.host, config.peerListen.port);
    this.listening = true;
    if (config.proxyListen) {
      const handle = app.callback();
      const started = await startTransparentProxy({
        listen: config.proxyListen,
        caDir: config.caDir ?? join(config.cacheDir, 'ca'),
        upstreams: config.upstreams,
        observer: this.metrics,
        // koa's handler settles its own promise (its error handling lives inside it).
        core: (request, response) => void handle(request, response),
        httpsAgent: trust.agent,
        timeoutMs: config.upstreamTimeout,
        nodeId: this.nodeId,
        clientAllow: allow,
        // The proxy must never be a way into this node's own listeners.
        ownPorts: () => [this.address?.port, this.peerAddress?.port].filter((port) => port !== undefined),
        maxConnections: config.maxConnections,
        onRefused: () => this.metrics.connectionRefused('proxy'),
        logger: logger.child({ component: 'proxy' }),
      });
      this.proxy = started.proxy;
      this.proxyAddress = started.address;
    }

    const peerAgent = siteKey ? peerHttpsAgent(siteKey, this.nodeId) : undefined;
    this.peerAgent = peerAgent;
    this.siteClient = new PeerClient({
      nodeId: this.nodeId,
      peerTimeoutMs: Math.max(config.peerTimeout, SITE_SUMMARY_MIN_TIMEOUT_MS),
      ownerFetchTimeoutMs: Math.max(config.peerTimeout, SITE_SUMMARY_MIN_TIMEOUT_MS),
      logger,
      ...(peerAgent ? { httpsAgent: peerAgent } : {}),
    });
    const peersContext: NodePeersContext = { config, nodeId: this.nodeId, logger, siteKey, peerAgent };
    this.discovery = this.overrides.discovery
      ? this.overrides.discovery({ nodeId: this.nodeId, port: this.peerAddress.port, logger: logger.child({ component: 'discovery' }), url: this.peerUrl })
      : createNodeDiscovery(peersContext, this.peerAddress.port);
    peers.attach(createSitePeers(peersContext, this.discovery));
    this.discovery.on('peer-up', (peer) => {
      logger.info({ peer: peer.id, url: peer.url }, 'peer up');
      this.metrics.peerChanged('up');
      status.peerChanged(peer, 'up');
    });
    this.discovery.on('peer-down', (peer) => {
      logger.info({ peer: peer.id, url: peer.url }, 'peer down');
      this.metrics.peerChanged('down');
      status.peerChanged(peer, 'down');
    });
    await this.discovery.start();
    this.discoveryStarted = true;
    for await (const blob of store.list()) this.discovery.advertise(blob.digest);
    return this.address;
  }

  /** Stops serving (in-flight responses get a grace period), says goodbye, stops downloads. */
  async close(): Promise<void> {
    this.listening = false;
    this.discoveryStarted = false;
    await this.proxy?.close();
    this.proxy = undefined;
    await Promise.all([this.server?.close(), this.peerServer?.close()]);
    await this.discovery?.close();
    this.peerAgent?.destroy();
    this.mirror?.abortAll('shutting down');
    await this.cacheStore?.close();
    this.server = undefined;
    this.discovery = undefined;
  }

  private requireSiteClient(): PeerClient {
    if (!this.siteClient) throw new Error('the node is still starting');
    return this.siteClient;
  }

  /** This node's client API as a local process reaches it (a wildcard listen is reached on loopback). */
  private loopbackUrl(): string {
    if (!this.address) throw new Error('node is not started');
    const { address, family, port } = this.address;
    if (address === '0.0.0.0') return `http://127.0.0.1:${port}`;
    if (address === '::') return `http://[::1]:${port}`;
    return formatUrl('http', { address, family, port });
  }

  private cacheUsage(): CacheUsageSampler {
    if (!this.usage) throw new Error('node is not started');
    return this.usage;
  }
}

function formatUrl(scheme: 'http' | 'https', { address, family, port }: AddressInfo): string {
  return `${scheme}://${family === 'IPv6' ? `[${address}]` : address}:${port}`;
}
