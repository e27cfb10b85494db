import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { ContentSource } from '../mirror/mirror-results.js';
import type { UpstreamResponseEvent } from '../upstream/got-registry-client.js';
import type { CacheUsage } from './metrics-cache-usage.js';
import type { Metrics, MetricsSnapshot } from './metrics.js';
import { CONTENT_SOURCES, requestTarget, type ServedRequest } from './metrics-served-request.js';

export interface PrometheusMetricsOptions {
  /** Downloads running now (the mirror's one-per-digest map). */
  readonly inflightDownloads?: () => number;
  /** Live peers now (discovery's view). */
  readonly livePeers?: () => number;
  readonly cacheUsage?: () => Promise<CacheUsage>;
  /** Adds prom-client's standard process_* and nodejs_* metrics (CPU, memory, event loop lag). Default true. */
  readonly processMetrics?: boolean;
  /** This build's version, for `edgepier_build_info`. */
  readonly version?: string;
}

/** What became of a CONNECT to the transparent-mode proxy. */
export type ProxyConnectOutcome = 'intercepted' | 'tunnelled' | 'refused';

/** Which listener a connection limit acted on. */
export type ListenerName = 'client' | 'peer' | 'proxy';

/** Upstream answers that count as errors: the registry failed, not the request. */
function isUpstreamError(event: UpstreamResponseEvent): boolean {
  return event.errorCode !== undefined || (event.status !== undefined && (event.status >= 500 || event.status === 429));
}

function zeroBySource(): Record<ContentSource, number> {
  return { cache: 0, inflight: 0, peer: 0, upstream: 0 };
}

/**
 * Prometheus metrics on a registry of their own (no global default registry, so several
 * nodes can live in one test process). Gauges that describe state (cache size, in-flight
 * downloads, live peers) are read when scraped, never pushed.
 */
export class PrometheusMetrics implements Metrics {
  readonly registry = new Registry();
  private readonly requests: Counter<'source' | 'kind'>;
  private readonly bytes: Counter<'source' | 'kind'>;
  private readonly evictions: Counter;
  private readonly evictedBytes: Counter;
  private readonly peerEvents: Counter<'event'>;
  private readonly upstreamRequests: Counter<'registry' | 'status'>;
  private readonly upstreamErrors: Counter<'registry' | 'reason'>;
  private readonly upstreamLatency: Histogram<'registry'>;
  private readonly upstreamBytesTotal: Counter<'registry'>;
  private readonly proxyConnects: Counter<'outcome'>;
  private readonly sendTimeouts: Counter<'listener'>;
  private readonly connectionsRefused: Counter<'listener'>;
  private readonly totals = {
    requests: zeroBySource(),
    bytes: zeroBySource(),
    blobGets: 0,
    blobHits: 0,
    evictions: 0,
    evictedBytes: 0,
    upstreamRequests: 0,
    upstreamErrors: 0,
    upstreamBytes: 0,
  };

  constructor(options: PrometheusMetricsOptions = {}) {
    const registers = [this.registry];
    this.requests = new Counter({
      name: 'edgepier_requests_total',
      help: 'Manifest and blob requests answered, by where the bytes came from.',
      labelNames: ['source', 'kind'],
      registers,
    });
    this.bytes = new Counter({
      name: 'edgepier_served_bytes_total',
      help: 'Body bytes sent to clients, by where they came from.',
      labelNames: ['source', 'kind'],
      registers,
    });
    for (const source of CONTENT_SOURCES) {
      for (const kind of ['manifest', 'blob']) {
        this.requests.inc({ source, kind }, 0);
        this.bytes.inc({ source, kind }, 0);
      }
    }
    const totals = this.totals;
    new Gauge({
      name: 'edgepier_cache_hit_ratio',
      help: 'Share of blob GETs since start answered from this node\'s cache (0 before the first).',
      registers,
      collect() {
        this.set(totals.blobGets === 0 ? 0 : totals.blobHits / totals.blobGets);
      },
    });
    this.evictions = new Counter({ name: 'edgepier_cache_evictions_total', help: 'Blobs evicted from the cache.', registers });
    this.evictedBytes = new Counter({ name: 'edgepier_cache_evicted_bytes_total', help: 'Bytes evicted from the cache.', registers });
    const cacheUsage = options.cacheUsage;
    if (cacheUsage) {
      const cacheGauges: ReadonlyArray<readonly [name: string, help: string, value: (usage: CacheUsage) => number]> = [
        ['edgepier_cache_size_bytes', 'Bytes of committed content in the cache.', (usage) => usage.usedBytes],
        ['edgepier_cache_blobs', 'Committed blobs and manifests in the cache.', (usage) => usage.blobs],
        ['edgepier_cache_budget_bytes', 'Configured cache budget in bytes (0: unlimited).', (usage) => usage.budgetBytes ?? 0],
      ];
      for (const [name, help, value] of cacheGauges) {
        new Gauge({
          name,
          help,
          registers,
          async collect() {
            // A sample that cannot be taken leaves the gauge at its last value.
            const usage = await cacheUsage().catch(() => undefined);
            if (usage) this.set(value(usage));
          },
        });
      }
    }
    const inflight = options.inflightDownloads;
    new Gauge({
      name: 'edgepier_inflight_downloads',
      help: 'Blob downloads running now (one per digest, however many clients follow it).',
      registers,
      collect() {
        this.set(inflight?.() ?? 0);
      },
    });
    const livePeers = options.livePeers;
    new Gauge({
      name: 'edgepier_peers',
      help: 'Peers currently seen on the site LAN.',
      registers,
      collect() {
        this.set(livePeers?.() ?? 0);
      },
    });
    this.peerEvents = new Counter({ name: 'edgepier_peer_events_total', help: 'Peer up/down transitions seen by discovery.', labelNames: ['event'], registers });
    this.peerEvents.inc({ event: 'up' }, 0);
    this.peerEvents.inc({ event: 'down' }, 0);
    this.upstreamRequests = new Counter({
      name: 'edgepier_upstream_requests_total',
      help: 'Round trips to upstream registries, by HTTP status ("error" when none came back).',
      labelNames: ['registry', 'status'],
      registers,
    });
    this.upstreamErrors = new Counter({
      name: 'edgepier_upstream_errors_total',
      help: 'Upstream round trips that failed: network errors and timeouts (reason: their code), 5xx and 429 (reason: the status).',
      labelNames: ['registry', 'reason'],
      registers,
    });
    this.upstreamLatency = new Histogram({
      name: 'edgepier_upstream_response_seconds',
      help: 'Time from sending an upstream request to its response headers (or its failure).',
      labelNames: ['registry'],
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.upstreamBytesTotal = new Counter({
      name: 'edgepier_upstream_bytes_total',
      help: 'Body bytes received from upstream registries (the WAN bytes): beside edgepier_served_bytes_total, how often each byte was reused.',
      labelNames: ['registry'],
      registers,
    });
    this.proxyConnects = new Counter({
      name: 'edgepier_proxy_connects_total',
      help: 'CONNECTs to the transparent-mode proxy: intercepted (a registry, served like a mirror pull), tunnelled (any other host), refused (malformed, or a registry host on another port).',
      labelNames: ['outcome'],
      registers,
    });
    for (const outcome of ['intercepted', 'tunnelled', 'refused'] as const) this.proxyConnects.inc({ outcome }, 0);
    this.sendTimeouts = new Counter({
      name: 'edgepier_send_timeouts_total',
      help: 'Connections cut because their client took no bytes for --send-timeout while a response was waiting to be sent.',
      labelNames: ['listener'],
      registers,
    });
    this.connectionsRefused = new Counter({
      name: 'edgepier_connections_refused_total',
      help: 'Requests answered 503 (or connections dropped, past twice the cap) because --max-connections were open.',
      labelNames: ['listener'],
      registers,
    });
    for (const listener of ['client', 'peer'] as const) {
      this.sendTimeouts.inc({ listener }, 0);
      this.connectionsRefused.inc({ listener }, 0);
    }
    new Gauge({
      name: 'edgepier_build_info',
      help: 'Always 1; the labels say which EdgePier and Node.js versions run.',
      labelNames: ['version', 'nodejs_version'],
      registers,
    }).set({ version: options.version ?? 'unknown', nodejs_version: process.versions.node }, 1);
    // Standard names (process_cpu_seconds_total, nodejs_eventloop_lag_seconds, ...), which stock dashboards query.
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry });
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The exposition text for `/metrics`. */
  render(): Promise<string> {
    return this.registry.metrics();
  }

  requestServed(request: ServedRequest): void {
    const source = request.facts.source;
    const target = requestTarget(request);
    if (source === undefined || target === undefined) return;
    const bytes = request.method === 'HEAD' ? 0 : (request.facts.bytes ?? 0);
    this.requests.inc({ source, kind: target.kind });
    this.bytes.inc({ source, kind: target.kind }, bytes);
    this.totals.requests[source] += 1;
    this.totals.bytes[source] += bytes;
    if (target.kind === 'blob' && request.method === 'GET') {
      this.totals.blobGets += 1;
      if (source === 'cache') this.totals.blobHits += 1;
    }
  }

  cacheEvicted(blobs: number, bytes: number): void {
    this.evictions.inc(blobs);
    this.evictedBytes.inc(bytes);
    this.totals.evictions += blobs;
    this.totals.evictedBytes += bytes;
  }

  peerChanged(change: 'up' | 'down'): void {
    this.peerEvents.inc({ event: change });
  }

  upstreamResponse(event: UpstreamResponseEvent): void {
    this.upstreamRequests.inc({ registry: event.registry, status: event.status === undefined ? 'error' : String(event.status) });
    this.upstreamLatency.observe({ registry: event.registry }, event.ms / 1000);
    this.totals.upstreamRequests += 1;
    if (isUpstreamError(event)) {
      this.upstreamErrors.inc({ registry: event.registry, reason: event.errorCode ?? String(event.status) });
      this.totals.upstreamErrors += 1;
    }
  }

  upstreamBytes(registry: string, bytes: number): void {
    this.upstreamBytesTotal.inc({ registry }, bytes);
    this.totals.upstreamBytes += bytes;
  }

  proxyConnect(outcome: ProxyConnectOutcome): void {
    this.proxyConnects.inc({ outcome });
  }

  sendTimedOut(listener: ListenerName): void {
    this.sendTimeouts.inc({ listener });
  }

  connectionRefused(listener: ListenerName): void {
    this.connectionsRefused.inc({ listener });
  }

  snapshot(): MetricsSnapshot {
    const { blobGets, blobHits } = this.totals;
    return {
      requests: { ...this.totals.requests },
      bytes: { ...this.totals.bytes },
      hitRatio: blobGets === 0 ? null : blobHits / blobGets,
      evictions: this.totals.evictions,
      evictedBytes: this.totals.evictedBytes,
      upstreamRequests: this.totals.upstreamRequests,
      upstreamErrors: this.totals.upstreamErrors,
      upstreamBytes: this.totals.upstreamBytes,
    };
  }
}
