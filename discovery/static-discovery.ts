import { EventEmitter } from 'node:events';
import { pino, type Logger } from 'pino';
import { isSupportedDigest } from './digest-name.js';
import { NODE_HEADER, PEER_HEADER } from './node-headers.js';
import type { Peer, PeerDiscovery, PeerDiscoveryEvents } from './peer-discovery.js';

export interface StaticDiscoveryOptions {
  /** `HOST:PORT`, `[v6]:PORT` or `http(s)://…` base URLs, from config. */
  readonly peers: readonly string[];
  readonly nodeId: string;
  /** Default 5000. */
  readonly probeIntervalMs?: number;
  /** Default 2000. A probe that takes longer counts as "down". */
  readonly probeTimeoutMs?: number;
  readonly fetchImpl?: typeof fetch;
  readonly logger?: Logger;
}


interface Target {
  readonly url: string;
  live: Peer | undefined;
}

/**
 * Peers from a configured list, for networks that block multicast. A peer is up while
 * `GET <url>/v2/` gets any HTTP answer (401 included: it proves an HTTP server is there),
 * down on a connection error or timeout. Its id is its `X-EdgePier-Node` answer header,
 * else its URL. An entry whose id is our own (a list shared by all nodes of a site names
 * the node itself too) is skipped.
 *
 * There is no holdings index here: findHolders() returns every live peer as a candidate,
 * and the caller relies on peers answering a blob they lack with a fast 404.
 * advertise() and withdraw() do nothing.
 */
export class StaticDiscovery extends EventEmitter<PeerDiscoveryEvents> implements PeerDiscovery {
  private readonly targets: Target[];
  private readonly fetchImpl: typeof fetch;
  private readonly logger: Logger;
  private readonly intervalMs: number;
  private readonly timeoutMs: number;
  private timer: NodeJS.Timeout | undefined;
  private round: Promise<void> | undefined;
  private closed = false;

  constructor(private readonly options: StaticDiscoveryOptions) {
    super();
    const urls = [...new Set(options.peers.map(normalizePeerUrl))];
    this.targets = urls.map((url) => ({ url, live: undefined }));
    this.fetchImpl = options.fetchImpl ?? fetch;
    this.logger = (options.logger ?? pino({ enabled: false })).child({ component: 'static-discovery' });
    this.intervalMs = options.probeIntervalMs ?? 5000;
    this.timeoutMs = options.probeTimeoutMs ?? 2000;
  }

  /** Probes every peer once before resolving, so peers() is meaningful right after start. */
  async start(): Promise<void> {
    if (this.closed) throw new Error('StaticDiscovery cannot start after close');
    await this.probeAll();
    if (this.closed) return;
    this.timer = setInterval(() => {
      // A slow round (every probe timing out) must not stack up behind itself.
      if (this.round === undefined) void this.probeAll();
    }, this.intervalMs);
    this.timer.unref();
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    await this.round;
    for (const target of this.targets) target.live = undefined;
  }

  peers(): Peer[] {
    return this.targets.flatMap((target) => (target.live === undefined ? [] : [target.live]));
  }

  /** Every live peer is a candidate for a digest; see the class comment. Nobody holds a non-digest. */
  findHolders(digest: string, options: { timeoutMs: number; firstAnswerOnly?: boolean }): Promise<Peer[]> {
    const peers = isSupportedDigest(digest) ? this.peers() : [];
    return Promise.resolve(options.firstAnswerOnly === true ? peers.slice(0, 1) : peers);
  }

  advertise(_digest: string): void {}

  withdraw(_digest: string): void {}

  private probeAll(): Promise<void> {
    this.round ??= Promise.all(this.targets.map((target) => this.probe(target))).then(() => {
      this.round = undefined;
    });
    return this.round;
  }

  private async probe(target: Target): Promise<void> {
    let next: Peer | undefined;
    try {
      const response = await this.fetchImpl(`${target.url}/v2/`, {
        headers: { [PEER_HEADER]: this.options.nodeId },
        signal: AbortSignal.timeout(this.timeoutMs),
        redirect: 'manual',
      });
      // Only the status matters: release the connection without reading the body.
      await response.body?.cancel().catch(() => undefined);
      next = { id: response.headers.get(NODE_HEADER) ?? target.url, url: target.url };
    } catch (error) {
      this.logger.debug({ url: target.url, err: error }, 'peer probe failed');
    }
    if (this.closed) return;
    if (next?.id === this.options.nodeId) next = undefined; // that entry is this node
    const previous = target.live;
    if (previous?.id === next?.id) return;
    target.live = next;
    if (previous !== undefined) {
      this.logger.info({ peer: previous.id, url: previous.url }, 'peer down');
      this.emit('peer-down', previous);
    }
    if (next !== undefined) {
      this.logger.info({ peer: next.id, url: next.url }, 'peer up');
      this.emit('peer-up', next);
    }
  }
}

/** `host:port` → `http://host:port`; URLs lose trailing slashes. Throws on nonsense. */
export function normalizePeerUrl(entry: string): string {
  const trimmed = entry.trim();
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(trimmed) ? trimmed : `http://${trimmed}`;
  const url = new URL(withScheme);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new TypeError(`peer ${entry}: only http(s) URLs`);
  if (url.hostname === '') throw new TypeError(`peer ${entry}: no host`);
  return `${url.protocol}//${url.host}${url.pathname.replace(/\/+$/, '')}`;
}
