import { Agent as HttpAgent, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Agent as HttpsAgent } from 'node:https';
import { isIPv6 } from 'node:net';
import { createProxyServer } from 'http-proxy-3';
import type { Logger } from 'pino';
import { RegistryError } from '../oci/registry-error.js';
import { describeTlsFailure } from '../upstream/tls-failure.js';
import { writeOciErrorResponse } from '../server/oci-error-response.js';
import { errorCode } from '../cache/blob-store.js';

export interface ForwarderOptions {
  /** Verifies HTTPS origins against the upstream trust store; never switched off. */
  readonly httpsAgent: HttpsAgent;
  /** Longest silence from the origin before the request is given up. */
  readonly timeoutMs: number;
  /** This node's Via entry (via.ts). */
  readonly via: string;
  readonly logger: Logger;
}

/** Hop-by-hop headers meant for this proxy, never for the origin (RFC 9110 §7.6.1). */
const PROXY_ONLY_HEADERS = ['proxy-authorization', 'proxy-connection'] as const;

/**
 * Passes requests that EdgePier does not answer itself to their origin, untouched but for
 * the hop-by-hop headers and a Via. A failure before the response started becomes a JSON
 * 502/504 that names the origin and the reason; after that, the connection is cut.
 */
export class Forwarder {
  // http-proxy-3 1.x: the maintained rewrite of http-proxy with its API; its 2.x needs Node 22.
  private readonly proxy = createProxyServer({ xfwd: false, ws: false });
  private readonly httpAgent = new HttpAgent({ keepAlive: true });

  constructor(private readonly options: ForwarderOptions) {
    this.proxy.on('proxyReq', (proxyRequest) => {
      for (const header of PROXY_ONLY_HEADERS) proxyRequest.removeHeader(header);
      const via = proxyRequest.getHeader('via');
      const entry = this.options.via;
      proxyRequest.setHeader('via', typeof via === 'string' && via !== '' ? `${via}, ${entry}` : entry);
    });
  }

  /**
   * `origin` is `https://host:port` or `http://host:port`; the request's path is kept.
   * `address` pins the connection to an address target-policy.ts already checked, so the
   * origin's name is not resolved a second time (plain HTTP only: TLS would need the name).
   */
  forward(request: IncomingMessage, response: ServerResponse, origin: string, address?: string): void {
    const secure = origin.startsWith('https:');
    const url = new URL(origin);
    const pinned = address !== undefined && !secure;
    const port = url.port === '' ? '80' : url.port;
    this.proxy.web(
      request,
      response,
      {
        target: pinned ? `http://${isIPv6(address) ? `[${address}]` : address}:${port}` : origin,
        agent: secure ? this.options.httpsAgent : this.httpAgent,
        secure: true,
        // The origin sees the host it was asked for, whatever Host the client sent.
        ...(pinned ? { changeOrigin: false, headers: { host: url.host } } : { changeOrigin: true }),
        proxyTimeout: this.options.timeoutMs,
      },
      (error: Error) => this.failed(error, request, response, origin),
    );
  }

  close(): void {
    this.proxy.close();
    this.httpAgent.destroy();
  }

  private failed(error: Error, request: IncomingMessage, response: ServerResponse, origin: string): void {
    const code = errorCode(error) ?? 'ERROR';
    const tlsFailure = describeTlsFailure(error, origin);
    const ociError = new RegistryError('UPSTREAM_ERROR', tlsFailure ?? `${origin} could not be reached through EdgePier (${code})`, {
      detail: { origin, reason: code },
    });
    this.options.logger.warn({ origin, reason: code, method: request.method, err: error }, 'forwarding failed');
    if (response.headersSent) {
      response.destroy();
      return;
    }
    writeOciErrorResponse(response, ociError);
  }
}
