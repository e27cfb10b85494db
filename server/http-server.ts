import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type Koa from 'koa';
import type { Logger } from 'pino';
import { ConnectionCap } from './connection-cap.js';
import { CrowdRelease } from './crowd-release.js';
import { SendWatchdog } from './send-watchdog.js';
import { closeServer, DEFAULT_LISTENER_LIMITS, listenOn, MAX_HEADER_BYTES, prepareServer, type ListenerLimits } from './server-lifecycle.js';

/** Answered past the connection cap: an operator must still see why a node refuses. */
const OPS_PATHS = new Set(['/healthz', '/readyz', '/metrics']);

/** An HTTP server around the koa app with start/close and OCI-shaped protocol errors. */
export class HttpServer {
  private readonly server: Server;
  private readonly sockets: Set<Socket>;
  private readonly watchdog: SendWatchdog;
  private readonly cap: ConnectionCap;
  private readonly crowd: CrowdRelease | undefined;

  constructor(
    app: Koa<never> | Koa<object>,
    private readonly logger: Logger,
    limits: ListenerLimits = DEFAULT_LISTENER_LIMITS,
  ) {
    const handle = app.callback();
    this.cap = new ConnectionCap({
      maxConnections: limits.maxConnections,
      exempt: (path) => OPS_PATHS.has(path),
      ...(limits.onRefused ? { onRefused: limits.onRefused } : {}),
    });
    // koa's handler settles its own promise (its error handling lives inside it).
    this.server = createServer({ maxHeaderSize: MAX_HEADER_BYTES }, (request, response) => {
      if (this.cap.refuse(request, response)) return;
      void handle(request, response);
    });
    this.server.keepAliveTimeout = limits.idleTimeoutMs;
    this.server.headersTimeout = 30_000;
    // Requests are small; only responses (blobs) are long. This bounds a slow-loris client.
    this.server.requestTimeout = 60_000;
    this.sockets = prepareServer(this.server, 'PATH_INVALID');
    this.cap.attach(this.server);
    this.watchdog = new SendWatchdog(limits.sendTimeoutMs, () => {
      limits.onSendTimeout?.();
      this.logger.info({ sendTimeoutMs: limits.sendTimeoutMs }, 'cut a client that stopped reading');
    });
    this.watchdog.attach(this.server);
    const collect = limits.collectGarbage;
    this.crowd = collect
      ? new CrowdRelease(
          () => this.cap.openConnections,
          (peakConnections) => {
            const before = process.memoryUsage.rss();
            collect();
            this.logger.info({ peakConnections, rssBefore: before, rssAfter: process.memoryUsage.rss() }, 'a crowd of connections left: collected what it held');
          },
        )
      : undefined;
  }

  /** Connections open now (served or past the cap). */
  get openConnections(): number {
    return this.cap.openConnections;
  }

  async listen(host: string, port: number): Promise<AddressInfo> {
    const address = await listenOn(this.server, host, port);
    this.logger.info({ address: address.address, port: address.port }, 'listening');
    return address;
  }

  /** Stops accepting, lets in-flight responses finish for `graceMs`, then cuts what is left. */
  async close(graceMs = 5_000): Promise<void> {
    this.watchdog.close();
    this.crowd?.close();
    await closeServer(this.server, this.sockets, graceMs);
  }
}
