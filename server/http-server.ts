import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type Koa from 'koa';
import type { Logger } from 'pino';
import { closeServer, listenOn, MAX_HEADER_BYTES, prepareServer } from './server-lifecycle.js';

/** An HTTP server around the koa app with start/close and OCI-shaped protocol errors. */
export class HttpServer {
  private readonly server: Server;
  private readonly sockets: Set<Socket>;

  constructor(app: Koa<never> | Koa<object>, private readonly logger: Logger) {
    const handle = app.callback();
    // koa's handler settles its own promise (its error handling lives inside it).
    this.server = createServer({ maxHeaderSize: MAX_HEADER_BYTES }, (request, response) => {
      void handle(request, response);
    });
    this.server.keepAliveTimeout = 65_000;
    this.server.headersTimeout = 30_000;
    // Requests are small; only responses (blobs) are long. This bounds a slow-loris client.
    this.server.requestTimeout = 60_000;
    this.sockets = prepareServer(this.server, 'PATH_INVALID');
  }

  async listen(host: string, port: number): Promise<AddressInfo> {
    const address = await listenOn(this.server, host, port);
    this.logger.info({ address: address.address, port: address.port }, 'listening');
    return address;
  }

  /** Stops accepting, lets in-flight responses finish for `graceMs`, then cuts what is left. */
  async close(graceMs = 5_000): Promise<void> {
    await closeServer(this.server, this.sockets, graceMs);
  }
}
