import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServerType, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import type Koa from 'koa';
import type { Logger } from 'pino';
import type { TlsOptions } from 'node:tls';
import { ConnectionCap } from './connection-cap.js';
import { SendWatchdog } from './send-watchdog.js';
import { DEFAULT_LISTENER_LIMITS, MAX_HEADER_BYTES, prepareServer, type ListenerLimits } from './server-lifecycle.js';

/** A TLS record of type handshake starts with this byte; no HTTP method does. */
const TLS_HANDSHAKE = 0x16;
/** A connection that says nothing is dropped after this long (no idle sockets for free). */
const FIRST_BYTE_TIMEOUT_MS = 10_000;

/**
 * The peer API's listener. With a site key it speaks TLS-PSK to members and plain HTTP only
 * to redirected runtimes (whose requests must carry a ticket), both on the advertised port:
 * the first byte tells them apart. Without a key it is plain HTTP. Hand-written because the
 * sniff is a dozen lines and the polyglot-server packages want a certificate, which PSK has not.
 */
export class PeerServer {
  private readonly front: NetServer;
  private readonly plain: HttpServerType;
  private readonly secure: HttpServerType | undefined;
  private readonly sockets = new Set<Socket>();
  private readonly watchdog: SendWatchdog;
  private readonly cap: ConnectionCap;

  /**
   * `limits` apply here as on the client API: the send and idle timeouts (a member that stops
   * reading must not pin memory) and the connection cap, counted for this listener on its own.
   * Members are few, but redirected runtimes and anyone on the LAN reach this port too.
   */
  constructor(
    app: Koa<never> | Koa<object>,
    private readonly logger: Logger,
    tls: TlsOptions | undefined,
    limits: ListenerLimits = DEFAULT_LISTENER_LIMITS,
  ) {
    const handle = app.callback();
    this.cap = new ConnectionCap({ maxConnections: limits.maxConnections, listener: 'peer API', ...(limits.onRefused ? { onRefused: limits.onRefused } : {}) });
    const serve = (request: IncomingMessage, response: ServerResponse): void => {
      if (this.cap.refuse(request, response)) return;
      void handle(request, response);
    };
    this.plain = configure(createHttpServer({ maxHeaderSize: MAX_HEADER_BYTES }, serve), limits);
    this.secure = tls ? configure(createHttpsServer({ ...tls, maxHeaderSize: MAX_HEADER_BYTES }, serve), limits) : undefined;
    this.watchdog = new SendWatchdog(limits.sendTimeoutMs, () => {
      limits.onSendTimeout?.();
      this.logger.info({ sendTimeoutMs: limits.sendTimeoutMs }, 'cut a peer that stopped reading');
    });
    for (const server of this.inner()) this.watchdog.attach(server);
    // Counted where route() hands a socket over: one that never says anything is not counted,
    // and is dropped after FIRST_BYTE_TIMEOUT_MS anyway.
    for (const server of this.inner()) this.cap.attach(server);
    // Sockets are tracked in route(); prepareServer adds the OCI answers to malformed requests.
    for (const server of this.inner()) prepareServer(server, 'PATH_INVALID');
    this.secure?.on('tlsClientError', (error: Error) => this.logger.debug({ err: error.message }, 'peer TLS handshake failed (not a member?)'));
    this.front = createNetServer({ pauseOnConnect: true }, (socket) => this.route(socket));
  }

  /** Connections open now on this listener (served or past the cap). */
  get openConnections(): number {
    return this.cap.openConnections;
  }

  async listen(host: string, port: number): Promise<AddressInfo> {
    await new Promise<void>((resolve, reject) => {
      this.front.once('error', reject);
      this.front.listen(port, host, () => {
        this.front.off('error', reject);
        resolve();
      });
    });
    // The inner servers never listen themselves, but node's HTTP server only tracks its
    // connections (idle closing, headers and request timeouts) once it has seen 'listening'.
    for (const server of this.inner()) server.emit('listening');
    const address = this.front.address() as AddressInfo;
    this.logger.info({ address: address.address, port: address.port, tls: this.secure !== undefined }, 'peer API listening');
    return address;
  }

  /** Stops accepting, lets in-flight responses finish for `graceMs`, then cuts what is left. */
  async close(graceMs = 5_000): Promise<void> {
    this.watchdog.close();
    if (!this.front.listening) return;
    const closed = new Promise<void>((resolve) => this.front.close(() => resolve()));
    // Closes their idle keep-alive connections and stops the timeout checks; that they were
    // not listening (ERR_SERVER_NOT_RUNNING) is expected.
    for (const server of this.inner()) server.close(() => undefined);
    const timer = setTimeout(() => {
      for (const server of this.inner()) server.closeAllConnections();
      for (const socket of this.sockets) socket.destroy();
    }, graceMs);
    await closed;
    clearTimeout(timer);
  }

  private inner(): HttpServerType[] {
    return this.secure ? [this.plain, this.secure] : [this.plain];
  }

  private route(socket: Socket): void {
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    if (this.secure === undefined) {
      this.plain.emit('connection', socket);
      socket.resume();
      return;
    }
    const secure = this.secure;
    socket.setTimeout(FIRST_BYTE_TIMEOUT_MS, () => socket.destroy());
    socket.once('data', (first: Buffer) => {
      socket.pause();
      socket.setTimeout(0);
      socket.unshift(first);
      (first[0] === TLS_HANDSHAKE ? secure : this.plain).emit('connection', socket);
      // On the next tick: the server that took the socket must attach its reader first, or
      // the unshifted bytes flow past it.
      process.nextTick(() => socket.resume());
    });
    socket.resume();
  }
}

function configure(server: HttpServerType, limits: ListenerLimits): HttpServerType {
  server.keepAliveTimeout = limits.idleTimeoutMs;
  server.headersTimeout = 30_000;
  server.requestTimeout = 60_000;
  return server;
}
