import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type Koa from 'koa';
import type { Logger } from 'pino';
import { OciError } from '../oci/oci-error.js';
import { rawOciErrorResponse } from './oci-error-response.js';

/** Node's default; a registry client never needs more, an attacker might try. */
const MAX_HEADER_BYTES = 16 * 1024;

/** An HTTP server around the koa app with start/close and OCI-shaped protocol errors. */
export class HttpServer {
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();

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
    this.server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
    // Errors before koa sees a request (header overflow, malformed HTTP) still get OCI JSON.
    this.server.on('clientError', (error: Error & { code?: string }, socket: Socket) => {
      if (!socket.writable) {
        socket.destroy();
        return;
      }
      const tooLarge = error.code === 'HPE_HEADER_OVERFLOW';
      const ociError = tooLarge
        ? new OciError('HEADER_INVALID', `request headers larger than ${MAX_HEADER_BYTES} bytes`)
        : new OciError('PATH_INVALID', 'malformed HTTP request');
      socket.end(rawOciErrorResponse(ociError));
    });
  }

  async listen(host: string, port: number): Promise<AddressInfo> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    const address = this.server.address() as AddressInfo;
    this.logger.info({ address: address.address, port: address.port }, 'listening');
    return address;
  }

  /** Stops accepting, lets in-flight responses finish for `graceMs`, then cuts what is left. */
  async close(graceMs = 5_000): Promise<void> {
    if (!this.server.listening) return;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeIdleConnections();
    const timer = setTimeout(() => {
      for (const socket of this.sockets) socket.destroy();
    }, graceMs);
    await closed;
    clearTimeout(timer);
  }
}
