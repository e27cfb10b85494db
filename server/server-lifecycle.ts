import type { Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { RegistryError, type RegistryErrorCode } from '../oci/registry-error.js';
import { rawOciErrorResponse } from './oci-error-response.js';

/** Node's default; a registry or proxy client never needs more, an attacker might try. */
export const MAX_HEADER_BYTES = 16 * 1024;

/** What bounds one listener's connections (config: --send-timeout, --idle-timeout, --max-connections). */
export interface ListenerLimits {
  /** A connection whose client takes no bytes of a pending response for this long is cut. */
  readonly sendTimeoutMs: number;
  /** A keep-alive connection with no request for this long is closed. */
  readonly idleTimeoutMs: number;
  /** Connections past this many get a 503 with Retry-After. */
  readonly maxConnections: number;
  /** Told about each connection the send timeout cut. */
  readonly onSendTimeout?: () => void;
  /** Told about each request (or connection) refused past the cap. */
  readonly onRefused?: () => void;
  /** Run once a crowd of connections has left (crowd-release.ts): the node collects its garbage. */
  readonly collectGarbage?: () => void;
}

export const DEFAULT_LISTENER_LIMITS: ListenerLimits = { sendTimeoutMs: 30_000, idleTimeoutMs: 65_000, maxConnections: 1024 };

/**
 * What every EdgePier listener (mirror port, proxy port) shares: open sockets are tracked for
 * a bounded shutdown, and errors before a request is parsed (header overflow, malformed HTTP)
 * still get OCI JSON. `malformedCode` names what a malformed request is on this port.
 */
export function prepareServer(server: Server, malformedCode: RegistryErrorCode): Set<Socket> {
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  server.on('clientError', (error: Error & { code?: string }, socket: Socket) => {
    if (!socket.writable) {
      socket.destroy();
      return;
    }
    const tooLarge = error.code === 'HPE_HEADER_OVERFLOW';
    const ociError = tooLarge
      ? new RegistryError('HEADER_INVALID', `request headers larger than ${MAX_HEADER_BYTES} bytes`)
      : new RegistryError(malformedCode, 'malformed HTTP request');
    socket.end(rawOciErrorResponse(ociError));
  });
  return sockets;
}

export async function listenOn(server: Server, host: string, port: number): Promise<AddressInfo> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server.address() as AddressInfo;
}

/** Stops accepting, lets in-flight work finish for `graceMs` (with `alsoWaitFor`), then cuts what is left. */
export async function closeServer(server: Server, sockets: ReadonlySet<Socket>, graceMs: number, alsoWaitFor: Promise<void> = Promise.resolve()): Promise<void> {
  if (!server.listening) return;
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  const timer = setTimeout(() => {
    for (const socket of sockets) socket.destroy();
  }, graceMs);
  await Promise.all([closed, alsoWaitFor]);
  clearTimeout(timer);
}
