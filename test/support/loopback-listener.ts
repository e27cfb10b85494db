// The listening half of every stand-in registry the tests and benchmarks run (loopback-registry,
// referrers-registry, the benches' file and soak upstreams): a server on 127.0.0.1, its URL, and
// a close that first destroys every open connection. Without that a keep-alive or stalled
// client (which those tests make on purpose) holds server.close() open for as long as it lives.
import { createServer, type RequestListener, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';

export interface LoopbackListenOptions {
  /** Default 0: any free port. */
  readonly port?: number;
  /** Serves HTTPS with this certificate. */
  readonly tls?: { readonly key: string; readonly cert: string };
  /** Overrides node's keep-alive timeout (5 s), for clients that pause longer between requests. */
  readonly keepAliveTimeoutMs?: number;
}

export interface LoopbackListener {
  /** `http://127.0.0.1:PORT` (or https). */
  readonly url: string;
  /** Destroys every open connection, then closes the server. */
  close(): Promise<void>;
}

export async function listenOnLoopback(handler: RequestListener, options: LoopbackListenOptions = {}): Promise<LoopbackListener> {
  const server: Server = options.tls ? createHttpsServer(options.tls, handler) : createServer(handler);
  if (options.keepAliveTimeoutMs !== undefined) server.keepAliveTimeout = options.keepAliveTimeoutMs;
  const sockets = new Set<Socket>();
  // HTTPS servers emit `connection` with the raw TCP socket too, which is what must be destroyed.
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve));
  return {
    url: `${options.tls ? 'https' : 'http'}://127.0.0.1:${(server.address() as AddressInfo).port}`,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
