// The listening half of every stand-in registry the tests and benchmarks run (loopback-registry,
// referrers-registry, the benches' file and soak upstreams): a server on 127.0.0.1, its URL, and
// a stop that first destroys every open connection. Without that a keep-alive or stalled
// client (which those tests make on purpose) holds server.close() open for as long as it lives.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';

export interface LoopbackListenOptions {
  /** Default 0: any free port. */
  readonly port?: number;
  /** Serves HTTPS with this certificate. */
  readonly tls?: { readonly key: string; readonly cert: string };
  /** Overrides node's keep-alive timeout (5 s). */
  readonly keepAliveTimeoutMs?: number;
}

export abstract class LoopbackServer {
  /** `http://127.0.0.1:PORT` (or https) once started. */
  url = '';
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();

  protected abstract handle(request: IncomingMessage, response: ServerResponse): void;

  protected async listen(options: LoopbackListenOptions = {}): Promise<void> {
    const handler = (request: IncomingMessage, response: ServerResponse): void => this.handle(request, response);
    const server: Server = options.tls ? createHttpsServer(options.tls, handler) : createServer(handler);
    if (options.keepAliveTimeoutMs !== undefined) server.keepAliveTimeout = options.keepAliveTimeoutMs;
    // HTTPS servers emit `connection` with the raw TCP socket too, which is what must be destroyed.
    server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
    this.server = server;
    await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve));
    this.url = `${options.tls ? 'https' : 'http'}://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  /** Destroys every open connection, then closes the server. Idempotent. */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
