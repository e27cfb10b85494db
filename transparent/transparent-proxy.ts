import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Logger } from 'pino';
import { RegistryError } from '../oci/registry-error.js';
import { ConnectionCap } from '../server/connection-cap.js';
import { rawOciErrorResponse, writeOciErrorResponse } from '../server/oci-error-response.js';
import { closeServer, listenOn, MAX_HEADER_BYTES, prepareServer } from '../server/server-lifecycle.js';
import type { ClientAdmission } from './client-admission.js';
import { formatConnectTarget, parseConnectTarget, type ConnectTarget } from './connect-target.js';
import { coreUrlFor } from './core-request.js';
import type { Forwarder } from './forwarder.js';
import type { InterceptServer } from './intercept-server.js';
import type { InterceptedRegistries } from './intercepted-registries.js';
import type { TargetPolicy } from './target-policy.js';
import { openTunnel } from './tunnel.js';
import { hasPassedThrough } from './via.js';

export interface TransparentProxyOptions {
  readonly registries: InterceptedRegistries;
  readonly intercept: InterceptServer;
  readonly forwarder: Forwarder;
  /** The mirror's own request handler, for pulls from plain-HTTP registries. */
  readonly core: RequestListener;
  /** This node's Via entry: a request carrying it has looped back. */
  readonly via: string;
  readonly connectTimeoutMs: number;
  /** Who may use the proxy at all (client-admission.ts). */
  readonly admission: ClientAdmission;
  /** Where tunnels and forwards may go (target-policy.ts); configured registries are the operator's choice and not asked. */
  readonly targets: TargetPolicy;
  readonly logger: Logger;
  /** Told what became of each CONNECT (metrics). */
  readonly observer?: { proxyConnect(outcome: 'intercepted' | 'tunnelled' | 'refused'): void };
  /** Client connections served at once (--max-connections, counted for this listener on its own); past it 503 + Retry-After. */
  readonly maxConnections?: number;
  /** Told about each request or CONNECT refused past the cap. */
  readonly onRefused?: () => void;
}

/** The listener default's, when the caller sets none (tests). */
const DEFAULT_MAX_CONNECTIONS = 1024;

/**
 * The HTTP proxy a node's runtime finds in HTTPS_PROXY. CONNECT to a configured registry's
 * origin is intercepted (intercept-server.ts); CONNECT anywhere else is a plain tunnel.
 * Absolute-form HTTP requests are forwarded, except pulls from a plain-HTTP registry, which
 * the mirror core answers. Only admitted clients get any of that, and tunnels and forwards
 * never reach this machine itself (target-policy.ts).
 */
export class TransparentProxy {
  private readonly server: Server;
  private readonly sockets: Set<Socket>;
  private readonly cap: ConnectionCap;

  constructor(private readonly options: TransparentProxyOptions) {
    // A tunnel or an intercepted connection holds its client socket (and often one upstream)
    // for as long as the runtime keeps it: the same cap as the mirror port bounds them.
    this.cap = new ConnectionCap({
      maxConnections: options.maxConnections ?? DEFAULT_MAX_CONNECTIONS,
      listener: 'proxy',
      ...(options.onRefused ? { onRefused: options.onRefused } : {}),
    });
    // No request timeout: a forwarded upload may legitimately take long. Headers still must come quickly.
    this.server = createServer({ maxHeaderSize: MAX_HEADER_BYTES, requestTimeout: 0 }, (request, response) => this.onRequest(request, response));
    this.server.headersTimeout = 30_000;
    this.server.keepAliveTimeout = 65_000;
    this.server.on('connect', (request: IncomingMessage, socket: Socket, head: Buffer) => this.onConnect(request, socket, head));
    this.sockets = prepareServer(this.server, 'PROXY_TARGET_INVALID');
    this.cap.attach(this.server);
  }

  /** Client connections open now (served or past the cap). */
  get openConnections(): number {
    return this.cap.openConnections;
  }

  async listen(host: string, port: number): Promise<AddressInfo> {
    const address = await listenOn(this.server, host, port);
    this.options.logger.info(
      { address: address.address, port: address.port, intercepted: this.options.registries.httpsOrigins },
      'transparent proxy listening',
    );
    return address;
  }

  /** Stops accepting; tunnels and intercepted connections get `graceMs` to finish. */
  async close(graceMs = 5_000): Promise<void> {
    await closeServer(this.server, this.sockets, graceMs, this.options.intercept.close(graceMs));
  }

  private onConnect(request: IncomingMessage, socket: Socket, head: Buffer): void {
    socket.on('error', (error: Error & { code?: string }) => this.options.logger.debug({ reason: error.code }, 'proxy client connection failed'));
    if (this.cap.refuseConnect(socket)) {
      this.options.observer?.proxyConnect('refused');
      return;
    }
    const denied = this.options.admission.refusal(socket);
    if (denied !== undefined) {
      this.options.observer?.proxyConnect('refused');
      socket.end(rawOciErrorResponse(denied));
      return;
    }
    const target = parseConnectTarget(request.url ?? '');
    if ('problem' in target) {
      this.options.logger.info({ target: (request.url ?? '').slice(0, 128), problem: target.problem }, 'refused a malformed CONNECT');
      this.options.observer?.proxyConnect('refused');
      socket.end(rawOciErrorResponse(new RegistryError('PROXY_TARGET_INVALID', target.problem, { detail: { target: (request.url ?? '').slice(0, 262) } })));
      return;
    }
    const decision = this.options.registries.forConnect(target);
    if (decision.kind === 'intercept') {
      this.options.logger.debug({ registry: decision.registry.registry, target: formatConnectTarget(target) }, 'intercepting CONNECT');
      this.options.observer?.proxyConnect('intercepted');
      this.options.intercept.accept(socket, head, decision.registry);
      return;
    }
    if (decision.kind === 'wrong-port') {
      const message =
        `${target.host} is a registry host EdgePier intercepts on port ${decision.ports.join(', ')}; ` +
        `a CONNECT to port ${target.port} would bypass the mirror and is refused`;
      this.options.logger.info({ target: formatConnectTarget(target) }, 'refused a CONNECT to a registry on another port');
      this.options.observer?.proxyConnect('refused');
      socket.end(rawOciErrorResponse(new RegistryError('DENIED', message, { detail: { target: formatConnectTarget(target), ports: decision.ports } })));
      return;
    }
    this.tunnelChecked(socket, head, target).catch((error: unknown) => {
      this.options.logger.error({ err: error, target: formatConnectTarget(target) }, 'tunnel failed before it opened');
      socket.destroy();
    });
  }

  private async tunnelChecked(socket: Socket, head: Buffer, target: ConnectTarget): Promise<void> {
    const verdict = await this.options.targets.check(target.host, target.port);
    if (socket.destroyed) return;
    if (!verdict.allowed) {
      this.refuseTarget(formatConnectTarget(target), verdict.reason, verdict.message);
      socket.end(rawOciErrorResponse(targetDenied(formatConnectTarget(target), verdict.reason, verdict.message)));
      this.options.observer?.proxyConnect('refused');
      return;
    }
    this.options.observer?.proxyConnect('tunnelled');
    openTunnel(socket, head, { host: verdict.address, port: target.port }, { connectTimeoutMs: this.options.connectTimeoutMs, logger: this.options.logger });
  }

  private refuseTarget(target: string, reason: string, message: string): void {
    this.options.logger.info({ target: target.slice(0, 262), reason }, `refused a proxy target: ${message}`);
  }

  private onRequest(request: IncomingMessage, response: ServerResponse): void {
    if (this.cap.refuse(request, response)) return;
    const denied = this.options.admission.refusal(request.socket);
    if (denied !== undefined) {
      response.shouldKeepAlive = false;
      writeOciErrorResponse(response, denied);
      return;
    }
    if (hasPassedThrough(request.headers.via, this.options.via)) {
      writeOciErrorResponse(response, new RegistryError('PROXY_LOOP', 'this request already passed through this EdgePier proxy'));
      return;
    }
    const url = absoluteHttpUrl(request.url);
    if (url === undefined) {
      writeOciErrorResponse(
        response,
        new RegistryError(
          'PROXY_TARGET_INVALID',
          'this is EdgePier\'s proxy port: it takes absolute http:// URLs and CONNECT; registry clients without a proxy setting use the mirror port',
        ),
      );
      return;
    }
    const registry = this.options.registries.forPlainHttp(url);
    if (registry !== undefined) {
      const coreUrl = coreUrlFor(request.method, `${url.pathname}${url.search}`, registry.registry);
      if (coreUrl !== undefined) {
        request.url = coreUrl;
        void this.options.core(request, response);
        return;
      }
      this.options.forwarder.forward(request, response, url.origin);
      return;
    }
    this.forwardChecked(request, response, url).catch((error: unknown) => {
      this.options.logger.error({ err: error, target: url.host }, 'forward failed before it started');
      response.destroy();
    });
  }

  private async forwardChecked(request: IncomingMessage, response: ServerResponse, url: URL): Promise<void> {
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    const port = url.port === '' ? 80 : Number(url.port);
    const verdict = await this.options.targets.check(host, port);
    if (request.socket.destroyed) return;
    if (!verdict.allowed) {
      this.refuseTarget(url.host, verdict.reason, verdict.message);
      response.shouldKeepAlive = false;
      writeOciErrorResponse(response, targetDenied(url.host, verdict.reason, verdict.message));
      return;
    }
    this.options.forwarder.forward(request, response, url.origin, verdict.address);
  }
}

/** A refused target: 403 DENIED for what the policy forbids, 502 for a name that does not resolve. */
function targetDenied(target: string, reason: string, message: string): RegistryError {
  const code = reason === 'unresolvable' ? 'UPSTREAM_ERROR' : 'DENIED';
  return new RegistryError(code, message, { detail: { target: target.slice(0, 262), reason } });
}

/** An absolute-form `http://` request target, or undefined. */
function absoluteHttpUrl(target: string | undefined): URL | undefined {
  if (target === undefined || !/^http:\/\//i.test(target)) return undefined;
  try {
    const url = new URL(target);
    return url.username === '' && url.password === '' ? url : undefined;
  } catch {
    return undefined;
  }
}
