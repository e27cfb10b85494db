import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Server, Socket } from 'node:net';
import { RegistryError } from '../oci/registry-error.js';
import { rawOciErrorResponse, writeOciErrorResponse } from './oci-error-response.js';

/** How long a client past the cap is told to wait before it tries again. */
export const RETRY_AFTER_SECONDS = 1;
/** A connection past the cap that sends no request is dropped after this long. */
const OVER_CAP_IDLE_MS = 5_000;

export interface ConnectionCapOptions {
  readonly maxConnections: number;
  /** Which listener this is, for the message ("client API", "peer API", "proxy"). */
  readonly listener?: string;
  /** Paths answered even past the cap (health checks, metrics): an operator must still see in. */
  readonly exempt?: (path: string) => boolean;
  readonly onRefused?: () => void;
}

/**
 * At most `maxConnections` open connections get served. One past it is still accepted and its
 * request answered `503 UNAVAILABLE` with `Retry-After` and `Connection: close` (a runtime
 * then backs off and retries; a dropped socket looks like a broken mirror). Past twice the cap
 * connections are dropped at once, so file descriptors stay bounded whatever a flood does.
 */
export class ConnectionCap {
  private open = 0;
  private readonly overCap = new WeakSet<Socket>();

  constructor(private readonly options: ConnectionCapOptions) {}

  get openConnections(): number {
    return this.open;
  }

  /**
   * Counts the connections of `server` (several servers may share one cap: the peer API's
   * plain and TLS servers). On a TLS server a request arrives on the TLS socket, not the one
   * accepted, so that one is judged again once its handshake is done.
   */
  attach(server: Server): void {
    server.on('secureConnection', (socket: Socket) => {
      if (this.open > this.options.maxConnections) this.overCap.add(socket);
    });
    server.on('connection', (socket: Socket) => {
      this.open += 1;
      socket.once('close', () => {
        this.open -= 1;
      });
      if (this.open > this.options.maxConnections * 2) {
        socket.destroy();
        this.options.onRefused?.();
        return;
      }
      if (this.open > this.options.maxConnections) {
        this.overCap.add(socket);
        socket.setTimeout(OVER_CAP_IDLE_MS, () => socket.destroy());
      }
    });
  }

  /** Answers the request with a 503 when its connection is past the cap; true when it did. */
  refuse(request: IncomingMessage, response: ServerResponse): boolean {
    if (!this.overCap.has(request.socket)) return false;
    // Even an exempt answer closes the connection: past the cap nothing stays open.
    response.shouldKeepAlive = false;
    const path = (request.url ?? '').split('?')[0] ?? '';
    if (this.options.exempt?.(path)) return false;
    this.options.onRefused?.();
    writeOciErrorResponse(response, this.refusal(), { Connection: 'close' });
    return true;
  }

  /** A CONNECT (whose socket leaves the HTTP server) past the cap: answered raw and closed; true when it was. */
  refuseConnect(socket: Socket): boolean {
    if (!this.overCap.has(socket)) return false;
    this.options.onRefused?.();
    socket.end(rawOciErrorResponse(this.refusal()));
    return true;
  }

  private refusal(): RegistryError {
    const where = this.options.listener === undefined ? 'this node' : `this node's ${this.options.listener}`;
    return new RegistryError('UNAVAILABLE', `too many connections: ${where} serves at most ${this.options.maxConnections} at once; retry shortly`, {
      detail: { maxConnections: this.options.maxConnections },
      retryAfterSeconds: RETRY_AFTER_SECONDS,
    });
  }
}
