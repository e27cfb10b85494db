import type { Upstreams } from '../config/parse-upstreams.js';
import type { ConnectTarget } from './connect-target.js';

/** An upstream registry whose traffic transparent mode answers from the mirror core. */
export interface InterceptedRegistry {
  /** The registry host image names use, as the mirror's router knows it (`docker.io`). */
  readonly registry: string;
  /** The API origin clients connect to (`https://registry-1.docker.io`). */
  readonly origin: string;
  /** Lower-case host name or IP literal of that origin, IPv6 without brackets. */
  readonly host: string;
  readonly port: number;
}

export type ConnectDecision =
  | { readonly kind: 'intercept'; readonly registry: InterceptedRegistry }
  /** The host is a registry, but on another port than its API: refused, never silently bypassed. */
  | { readonly kind: 'wrong-port'; readonly ports: readonly number[] }
  | { readonly kind: 'tunnel' };

/**
 * Which proxied connections are registry traffic. A registry is recognised by the origin of
 * its configured upstream URL, exactly: that is where a client sends its pulls.
 */
export class InterceptedRegistries {
  /** host → the registries on that host, one per port. */
  private readonly https = new Map<string, InterceptedRegistry[]>();
  private readonly http = new Map<string, InterceptedRegistry[]>();

  constructor(upstreams: Upstreams) {
    for (const [registry, origin] of Object.entries(upstreams.byHost)) {
      const url = new URL(origin);
      const secure = url.protocol === 'https:';
      const host = url.hostname.replace(/^\[(.*)\]$/, '$1').toLowerCase();
      const port = url.port === '' ? (secure ? 443 : 80) : Number(url.port);
      const onHost = (secure ? this.https : this.http).get(host) ?? [];
      // Two registry names on one origin: the first wins; both reach the same upstream.
      if (!onHost.some((known) => known.port === port)) onHost.push({ registry, origin, host, port });
      (secure ? this.https : this.http).set(host, onHost);
    }
  }

  /** Every intercepted HTTPS origin, for the start-up log line. */
  get httpsOrigins(): string[] {
    return [...this.https.values()].flat().map((registry) => registry.origin);
  }

  forConnect(target: ConnectTarget): ConnectDecision {
    const onHost = this.https.get(target.host.replace(/\.$/, ''));
    if (onHost === undefined) return { kind: 'tunnel' };
    const registry = onHost.find((candidate) => candidate.port === target.port);
    return registry !== undefined ? { kind: 'intercept', registry } : { kind: 'wrong-port', ports: onHost.map((known) => known.port) };
  }

  /** A plain-HTTP upstream registry that an absolute-form proxy request (`http://host:port/...`) names. */
  forPlainHttp(url: URL): InterceptedRegistry | undefined {
    const port = url.port === '' ? 80 : Number(url.port);
    return this.http.get(url.hostname.replace(/^\[(.*)\]$/, '$1').toLowerCase())?.find((registry) => registry.port === port);
  }
}
