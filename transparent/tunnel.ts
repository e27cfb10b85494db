import { connect, type Socket } from 'node:net';
import type { Logger } from 'pino';
import { RegistryError } from '../oci/registry-error.js';
import { rawOciErrorResponse } from '../server/oci-error-response.js';
import { formatConnectTarget, type ConnectTarget } from './connect-target.js';

/** Dead peers on a quiet tunnel are found by TCP keep-alive, not by an idle timeout that would cut live ones. */
const KEEP_ALIVE_MS = 60_000;

/** How long a side may take to flush after the other closed. */
const FLUSH_GRACE_MS = 10_000;

export const CONNECTION_ESTABLISHED = 'HTTP/1.1 200 Connection Established\r\n\r\n';

/**
 * A CONNECT to a host that is not an intercepted registry: bytes pass both ways unmodified,
 * so the client talks TLS with the origin itself and sees the origin's own certificate.
 * Dialling is bounded by `connectTimeoutMs`; a failure before the tunnel is up is a JSON
 * 502/504 to the client, after that it closes both sides.
 */
export function openTunnel(client: Socket, head: Buffer, target: ConnectTarget, options: { connectTimeoutMs: number; logger: Logger }): void {
  const where = formatConnectTarget(target);
  const origin = connect({ host: target.host, port: target.port });
  let established = false;
  const refuse = (error: RegistryError): void => {
    origin.destroy();
    if (client.writable) client.end(rawOciErrorResponse(error));
    else client.destroy();
  };
  const timer = setTimeout(() => {
    options.logger.warn({ target: where }, 'tunnel target did not accept the connection in time');
    refuse(new RegistryError('UPSTREAM_TIMEOUT', `${where} did not accept a connection within ${options.connectTimeoutMs} ms`, { detail: { target: where } }));
  }, options.connectTimeoutMs);
  origin.once('connect', () => {
    clearTimeout(timer);
    established = true;
    origin.setKeepAlive(true, KEEP_ALIVE_MS);
    client.setKeepAlive(true, KEEP_ALIVE_MS);
    client.write(CONNECTION_ESTABLISHED);
    if (head.length > 0) origin.write(head);
    origin.pipe(client);
    client.pipe(origin);
    options.logger.debug({ target: where }, 'tunnel open');
  });
  origin.on('error', (error: Error & { code?: string }) => {
    clearTimeout(timer);
    if (established) {
      client.destroy();
      return;
    }
    options.logger.info({ target: where, reason: error.code }, 'tunnel target unreachable');
    refuse(new RegistryError('UPSTREAM_ERROR', `${where} is unreachable (${error.code ?? error.message})`, { detail: { target: where, reason: error.code } }));
  });
  // Either side going away ends the other once what it sent is flushed: a half-dead tunnel
  // would only hold file descriptors.
  origin.once('close', () => closeAfterFlush(client));
  client.once('close', () => {
    clearTimeout(timer);
    closeAfterFlush(origin);
  });
  client.on('error', () => origin.destroy());
}

/** Once the other side is gone, nothing this side sends can go anywhere: finish writing, then close. */
function closeAfterFlush(socket: Socket): void {
  if (socket.destroyed) return;
  socket.end(() => socket.destroy());
  setTimeout(() => socket.destroy(), FLUSH_GRACE_MS).unref();
}
