import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { CacacheBlobStore } from '../cache/cacache-blob-store.js';
import { CacacheTagStore } from '../cache/cacache-tag-store.js';
import type { EdgePierConfig } from '../config/edgepier-config.js';
import { PullThroughMirror } from '../mirror/pull-through-mirror.js';
import { RegistryRouter } from '../mirror/registry-router.js';
import { createApp } from '../server/create-app.js';
import { HttpServer } from '../server/http-server.js';
import { GotRegistryClient } from '../upstream/got-registry-client.js';
import { loadNodeId } from './node-id.js';

/**
 * The composition root of one running node: builds every long-lived object from the
 * validated config, and owns their start and shutdown order.
 */
export class EdgePierNode {
  private server: HttpServer | undefined;
  private mirror: PullThroughMirror | undefined;
  private address: AddressInfo | undefined;
  nodeId = '';

  constructor(
    private readonly config: EdgePierConfig,
    private readonly logger: Logger,
  ) {}

  /** The URL peers and tests reach this node at (the bound address). */
  get url(): string {
    if (!this.address) throw new Error('node is not started');
    const host = this.address.family === 'IPv6' ? `[${this.address.address}]` : this.address.address;
    return `http://${host}:${this.address.port}`;
  }

  async start(): Promise<AddressInfo> {
    const config = this.config;
    this.nodeId = await loadNodeId(config.nodeId, config.cacheDir);
    const logger = this.logger.child({ node: this.nodeId });
    const store = new CacacheBlobStore(config.cacheDir);
    const tags = new CacacheTagStore(config.cacheDir);
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
    this.mirror = new PullThroughMirror({
      store,
      tags,
      logger: logger.child({ component: 'mirror' }),
      tagTimeoutMs: config.tagTimeout,
    });
    const app = createApp({ mirror: this.mirror, router, logger, nodeId: this.nodeId });
    this.server = new HttpServer(app, logger.child({ component: 'server' }));
    this.address = await this.server.listen(config.listen.host, config.listen.port);
    return this.address;
  }

  /** Stops serving (in-flight responses get a grace period), then stops downloads. */
  async close(): Promise<void> {
    await this.server?.close();
    this.mirror?.abortAll('shutting down');
    this.server = undefined;
  }
}
