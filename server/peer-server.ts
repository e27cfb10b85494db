import { createServer as createHttpServer, type Server as HttpServerType } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import type Koa from 'koa';
import type { Logger } from 'pino';
import type { TlsOptions } from 'node:tls';
import { MAX_HEADER_BYTES, prepareServer } from './server-lifecycle.js';

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

  constructor(app: Koa<never> | Koa<object>, private readonly logger: Logger, tls: TlsOptions | undefined) {
    const handle = app.callback();
    const serve = (request: Parameters<typeof handle>[0], response: Parameters<typeof handle>[1]): void => void handle(request, response);
    this.plain = configure(createHttpServer({ maxHeaderSize: MAX_HEADER_BYTES }, serve));
    this.secure = tls ? configure(createHttpsServer({ ...tls, maxHeaderSize: MAX_HEADER_BYTES }, serve)) : undefined;
    // Sockets are tracked in route(); prepareServer adds the OCI answers to malformed requests.
    for (const server of [this.plain, this.secure]) if (server) prepareServer(server, 'PATH_INVALID');
    this.secure?.on('tlsClientError', (error: Error) => this.logger.debug({ err: error.message }, 'peer TLS handshake failed (not a member?)'));
    this.front = createNetServer({ pauseOnConnect: true }, (socket) => this.route(socket));
  }

  async listen(host: string, port: number): Promise<AddressInfo> {
    await new Promise<void>((resolve, reject) => {
      this.front.once('error', reject);
      this.front.listen(port, host, () => {
        this.front.off('error', reject);
        resolve();
      });
    });
    const address = this.front.address() as AddressInfo;
    this.logger.info({ address: address.address, port: address.port, tls: this.secure !== undefined }, 'peer API listening');
    return address;
  }

  /** Stops accepting, lets in-flight responses finish for `graceMs`, then cuts what is left. */
  async close(graceMs = 5_000): Promise<void> {
    if (!this.front.listening) return;
    const closed = new Promise<void>((resolve) => this.front.close(() => resolve()));
    for (const server of [this.plain, this.secure]) server?.closeIdleConnections();
    const timer = setTimeout(() => {
      for (const socket of this.sockets) socket.destroy();
    }, graceMs);
    await closed;
    clearTimeout(timer);
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

function configure(server: HttpServerType): HttpServerType {
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 30_000;
  server.requestTimeout = 60_000;
  return server;
}
