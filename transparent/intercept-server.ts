import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { TLSSocket, type SecureContext } from 'node:tls';
import type { Logger } from 'pino';
import { formatConnectTarget } from './connect-target.js';
import { coreUrlFor } from './core-request.js';
import type { Forwarder } from './forwarder.js';
import type { InterceptedRegistry } from './intercepted-registries.js';
import { CONNECTION_ESTABLISHED } from './tunnel.js';

export interface InterceptServerOptions {
  /** Issues this node's certificate for a registry host (certificate-authority.ts). */
  readonly certificates: { secureContextFor(host: string): SecureContext };
  /** The mirror's own request handler (the koa app), which answers pulls. */
  readonly core: RequestListener;
  readonly forwarder: Forwarder;
  readonly logger: Logger;
}

/** A client that opened a CONNECT must finish its TLS handshake in this time, or it is dropped. */
const HANDSHAKE_TIMEOUT_MS = 30_000;

/** A client that does not trust the CA says so with one of these TLS alerts. */
const UNTRUSTED_ALERTS = /ALERT_(UNKNOWN_CA|BAD_CERTIFICATE|CERTIFICATE_UNKNOWN)/;

/**
 * Terminates TLS on a CONNECT to a registry with a certificate from this node's CA, and
 * serves the HTTP inside: pulls from the mirror core (cache, peers, upstream), everything
 * else forwarded to the registry itself. One HTTP server parses every intercepted
 * connection; which registry a connection belongs to is remembered per socket.
 */
export class InterceptServer {
  private readonly server: Server;
  private readonly registryOf = new WeakMap<Socket, InterceptedRegistry>();
  private readonly sockets = new Set<Socket>();

  constructor(private readonly options: InterceptServerOptions) {
    // No request timeout: a forwarded push may upload a large layer for minutes.
    this.server = createServer({ requestTimeout: 0 }, (request, response) => this.route(request, response));
    this.server.headersTimeout = 30_000;
    this.server.keepAliveTimeout = 65_000;
  }

  /** Takes over a client socket that asked to CONNECT to `registry`. */
  accept(client: Socket, head: Buffer, registry: InterceptedRegistry): void {
    const where = formatConnectTarget(registry);
    let secureContext: SecureContext;
    try {
      secureContext = this.options.certificates.secureContextFor(registry.host);
    } catch (error) {
      this.options.logger.error({ err: error, registry: where }, 'could not issue a certificate');
      client.destroy();
      return;
    }
    client.write(CONNECTION_ESTABLISHED);
    // Bytes the client sent right after CONNECT (its ClientHello) belong to the TLS session.
    if (head.length > 0) client.unshift(head);
    const tls = new TLSSocket(client, { isServer: true, secureContext, ALPNProtocols: ['http/1.1'], requestCert: false });
    // The HTTP server's header timeout only starts once TLS is up; a silent client must not hold the socket.
    const handshake = setTimeout(() => tls.destroy(), HANDSHAKE_TIMEOUT_MS);
    tls.once('secure', () => clearTimeout(handshake));
    tls.once('close', () => clearTimeout(handshake));
    tls.on('error', (error: Error & { code?: string }) => {
      const untrusted = UNTRUSTED_ALERTS.test(error.code ?? '');
      this.options.logger[untrusted ? 'warn' : 'debug'](
        { registry: where, reason: error.code },
        untrusted
          ? 'the client does not trust EdgePier\'s CA: install the output of `edgepier ca export` in its trust store'
          : 'intercepted connection failed',
      );
      tls.destroy();
    });
    this.registryOf.set(tls, registry);
    this.sockets.add(tls);
    tls.once('close', () => this.sockets.delete(tls));
    this.server.emit('connection', tls);
  }

  /** Ends idle keep-alive connections now and every other one after `graceMs`. */
  async close(graceMs: number): Promise<void> {
    this.server.closeIdleConnections();
    const deadline = Date.now() + graceMs;
    while (this.sockets.size > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      this.server.closeIdleConnections();
    }
    for (const socket of this.sockets) socket.destroy();
  }

  private route(request: IncomingMessage, response: ServerResponse): void {
    const registry = this.registryOf.get(request.socket);
    if (registry === undefined) {
      response.destroy();
      return;
    }
    const coreUrl = coreUrlFor(request.method, request.url, registry.registry);
    if (coreUrl === undefined) {
      this.options.forwarder.forward(request, response, registry.origin);
      return;
    }
    request.url = coreUrl;
    void this.options.core(request, response);
  }
}
