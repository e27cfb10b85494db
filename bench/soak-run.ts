// The soak (issue 15): a real `edgepier serve` process, a loopback upstream that keeps minting
// new images, and a crowd of clients for a fixed time: `clients` pullers (manifest, config,
// layers, every body sha256-checked) mixing cached and cold images, plus clients that open a
// big blob and never read it and clients that read one slowly. The server's RSS and fd count
// (/proc/PID) are sampled throughout; latency, pulls and errors are counted per bucket. After
// the crowd leaves, RSS and fds are watched until they settle. Used by `npm run bench:soak`
// (30 minutes) and by test/soak-short.integration.test.ts (about a minute).
import { createHash } from 'node:crypto';
import { Agent, request as httpRequest } from 'node:http';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { heapSnapshotNodeArgs, takeHeapSnapshot } from './heap-snapshot.js';
import { readProcessGauges } from './process-gauges.js';
import { startServeProcess, type ServeProcess } from './serve-process.js';
import { SOAK_REPOSITORY, SoakUpstream, type SoakBlob, type SoakImage } from './soak-upstream.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const KiB = 1024;
const MiB = 1024 * KiB;
/** The server's `--cache-max-size` unless told: cold pulls never stop coming, so eviction is busy throughout. */
export const DEFAULT_CACHE_BUDGET_BYTES = 512 * MiB;
/** /metrics walks no cache, but a scrape a second would be load of its own. */
export const CACHE_SAMPLE_MS = 10_000;
const MANIFEST_ACCEPT = 'application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json';

export interface SoakOptions {
  readonly durationMs: number;
  /** Width of one row of the report (a minute for the long soak). */
  readonly bucketMs: number;
  readonly clients: number;
  /** Share of pulls that ask for a brand-new image (cold: upstream, download, commit). */
  readonly coldShare: number;
  /** Mean pause between one client's pulls (uniform 0..2×). */
  readonly thinkMs: number;
  readonly neverReaders: number;
  /** How long a never-reading client keeps its connection before hanging up and opening another. */
  readonly neverReaderHoldMs: number;
  readonly slowReaders: number;
  /** Bytes per second a slow reader takes. */
  readonly slowReaderRate: number;
  readonly cacheDir: string;
  /** `dist` runs the built CLI (`npm run build` first); `source` runs cli/main.ts through tsx. */
  readonly cli: 'dist' | 'source';
  /** Extra `serve` arguments (the lead can pass the new send-timeout or connection-cap flags). */
  readonly serveArgs?: readonly string[];
  /** The server's `--cache-max-size` in bytes (whole MiB); default DEFAULT_CACHE_BUDGET_BYTES. */
  readonly cacheBudgetBytes?: number;
  /** Where the server writes a heap snapshot after the warm-up and another once the crowd has left (none without). */
  readonly heapSnapshotDir?: string;
  readonly log?: (line: string) => void;
}

/** The server's own view of its memory (prom-client's default metrics), to tell a JS-heap leak from allocator retention. */
export interface HeapFigures {
  readonly heapUsed: number;
  readonly heapTotal: number;
  readonly external: number;
}

export interface SoakBucket {
  readonly startMs: number;
  cachedPulls: number;
  coldPulls: number;
  errors: number;
  readonly latencies: number[];
  maxRss: number;
  maxFds: number;
  /** Largest cache size /metrics reported in the bucket (bytes of committed blobs and spools). */
  maxCacheBytes: number;
}

export interface SoakResult {
  readonly options: Omit<SoakOptions, 'log'>;
  readonly buckets: readonly SoakBucket[];
  readonly idle: { readonly rss: number; readonly fds: number; readonly heap: HeapFigures | undefined };
  /** Once the crowd has left and the fd count settled (or the settle deadline passed). */
  readonly after: { readonly rss: number; readonly fds: number; readonly settleMs: number; readonly heap: HeapFigures | undefined };
  readonly peak: { readonly rss: number; readonly hwm: number; readonly fds: number };
  /** The cache: its budget (the server's `--cache-max-size`) and the most /metrics reported against it. */
  readonly cache: { readonly budgetBytes: number; readonly peakBytes: number };
  readonly errors: number;
  readonly errorSamples: readonly string[];
  readonly pulls: { readonly cached: number; readonly cold: number };
  readonly neverReaders: { readonly opened: number; readonly cutByServer: number; readonly heldToEnd: number };
  readonly slowReaders: { readonly completed: number; readonly cutByServer: number };
  readonly upstreamBlobGets: number;
  /** Last window ÷ first window (window = up to 5 buckets). */
  readonly flatness: { readonly windowBuckets: number; readonly rss: number; readonly fds: number; readonly p99: number; readonly p50: number };
}

export function percentile(values: readonly number[], share: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(share * sorted.length) - 1)] ?? Number.NaN;
}

/** One scrape of the server's /metrics: a reader of its unlabelled (or first labelled) values. */
async function readMetrics(baseUrl: string): Promise<((name: string) => number) | undefined> {
  try {
    const response = await fetch(`${baseUrl}/metrics`, { signal: AbortSignal.timeout(10_000) });
    const text = await response.text();
    return (name) => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text)?.[1] ?? Number.NaN);
  } catch {
    // Figures for the report only: a server too busy to answer /metrics shows as unknown.
    return undefined;
  }
}

async function readHeap(baseUrl: string): Promise<HeapFigures | undefined> {
  const metric = await readMetrics(baseUrl);
  if (!metric) return undefined;
  return { heapUsed: metric('nodejs_heap_size_used_bytes'), heapTotal: metric('nodejs_heap_size_total_bytes'), external: metric('nodejs_external_memory_bytes') };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

interface Fetched {
  readonly status: number;
  readonly body: Buffer;
}

/** One GET, whole body, bounded by `timeoutMs` (a hung server is an error, not a stuck soak). */
function get(agent: Agent, url: string, headers: Record<string, string>, timeoutMs: number): Promise<Fetched> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { agent, headers }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks) }));
      response.on('error', reject);
      response.on('aborted', () => reject(new Error('response aborted')));
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

function sha256(bytes: Buffer): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

function startServe(options: SoakOptions, upstream: string): Promise<ServeProcess> {
  const snapshotArgs = options.heapSnapshotDir === undefined ? [] : heapSnapshotNodeArgs(options.heapSnapshotDir);
  const entry = options.cli === 'dist' ? [...snapshotArgs, join(ROOT, 'dist', 'cli', 'main.js')] : [...snapshotArgs, '--import', 'tsx', join(ROOT, 'cli', 'main.ts')];
  return startServeProcess({
    entry,
    cacheDir: options.cacheDir,
    upstream,
    args: [
      // Cold pulls never stop coming: the budget keeps the disk bounded and eviction busy.
      '--cache-max-size',
      `${Math.round((options.cacheBudgetBytes ?? DEFAULT_CACHE_BUDGET_BYTES) / MiB)}MiB`,
      '--log-level',
      'warn',
      // The upstream lives in the soak's own busy process on a shared machine: a cold tag (no
      // last-known mapping to fall back on) would otherwise 504 whenever that process lags 3 s.
      '--tag-timeout',
      '30s',
      ...(options.serveArgs ?? []),
    ],
    name: 'edgepier serve (soak)',
    cwd: ROOT,
  });
}

export async function runSoak(options: SoakOptions): Promise<SoakResult> {
  const log = options.log ?? ((): void => undefined);
  const upstream = new SoakUpstream();
  await upstream.start();
  const serve = await startServe(options, upstream.url).catch(async (error: unknown) => {
    await upstream.stop();
    throw error;
  });
  const agent = new Agent({ keepAlive: true, maxSockets: options.clients + 16 });
  const errorSamples: string[] = [];
  const buckets: SoakBucket[] = [];
  let errors = 0;
  const pulls = { cached: 0, cold: 0 };
  const neverReaders = { opened: 0, cutByServer: 0, heldToEnd: 0 };
  const slowReaders = { completed: 0, cutByServer: 0 };
  let peak = { rss: 0, hwm: 0, fds: 0 };
  let peakCacheBytes = 0;
  const openSockets = new Set<Socket>();
  let started = 0;
  const bucketAt = (now: number): SoakBucket => {
    const index = Math.floor((now - started) / options.bucketMs);
    while (buckets.length <= index) buckets.push({ startMs: buckets.length * options.bucketMs, cachedPulls: 0, coldPulls: 0, errors: 0, latencies: [], maxRss: 0, maxFds: 0, maxCacheBytes: 0 });
    const bucket = buckets[index];
    if (!bucket) throw new Error('bucket out of range');
    return bucket;
  };
  const fail = (what: string): void => {
    errors += 1;
    if (started > 0 && Date.now() - started < options.durationMs) bucketAt(Date.now()).errors += 1;
    if (errorSamples.length < 20) errorSamples.push(what);
  };

  try {
    const warm: SoakImage[] = Array.from({ length: 16 }, () => upstream.mint([16 * KiB, 256 * KiB]));
    const big = upstream.mint([16 * MiB]).blobs[1];
    const slow = upstream.mint([2 * MiB]).blobs[1];
    if (!big || !slow) throw new Error('mint gave no layer');
    const blobUrl = (blob: SoakBlob): string => `${serve.url}/v2/${SOAK_REPOSITORY}/blobs/${blob.digest}`;

    const pullImage = async (image: SoakImage, record: boolean): Promise<boolean> => {
      const timed = async (url: string, headers: Record<string, string>, check: (fetched: Fetched) => string | undefined): Promise<boolean> => {
        const begin = performance.now();
        let fetched: Fetched;
        try {
          fetched = await get(agent, url, headers, 60_000);
        } catch (error) {
          fail(`${url}: ${error instanceof Error ? error.message : String(error)}`);
          return false;
        }
        if (record && started > 0) bucketAt(Date.now()).latencies.push(performance.now() - begin);
        const problem = fetched.status !== 200 ? `status ${fetched.status} ${fetched.body.subarray(0, 200).toString('utf8')}` : check(fetched);
        if (problem) {
          fail(`${url}: ${problem}`);
          return false;
        }
        return true;
      };
      const manifestOk = await timed(`${serve.url}/v2/${SOAK_REPOSITORY}/manifests/${image.tag}`, { accept: MANIFEST_ACCEPT }, (fetched) =>
        sha256(fetched.body) === image.manifestDigest ? undefined : 'manifest digest differs',
      );
      if (!manifestOk) return false;
      for (const blob of image.blobs) {
        const ok = await timed(blobUrl(blob), {}, (fetched) => (fetched.body.length === blob.size && sha256(fetched.body) === blob.digest ? undefined : `got ${fetched.body.length} bytes ${sha256(fetched.body)}`));
        if (!ok) return false;
      }
      return true;
    };

    // Warm-up: every warm image once, so "idle" below is a server that has loaded its code paths.
    for (const image of warm) if (!(await pullImage(image, false))) throw new Error(`warm-up pull failed: ${errorSamples.join('\n')}`);
    await sleep(2_000);
    const idle = await readProcessGauges(serve.process.pid);
    const idleHeap = await readHeap(serve.url);
    log(`idle after warm-up: RSS ${(idle.rss / MiB).toFixed(0)} MiB, ${idle.fds} fds, ${formatHeap(idleHeap)}`);
    if (options.heapSnapshotDir !== undefined) log(`heap snapshot after warm-up: ${await takeHeapSnapshot(serve.process.pid, options.heapSnapshotDir)}`);

    started = Date.now();
    const deadline = started + options.durationMs;
    const running = (): boolean => Date.now() < deadline;

    const sampler = (async (): Promise<void> => {
      while (running()) {
        try {
          const sample = await readProcessGauges(serve.process.pid);
          const bucket = bucketAt(Date.now());
          bucket.maxRss = Math.max(bucket.maxRss, sample.rss);
          bucket.maxFds = Math.max(bucket.maxFds, sample.fds);
          peak = { rss: Math.max(peak.rss, sample.rss), hwm: Math.max(peak.hwm, sample.hwm), fds: Math.max(peak.fds, sample.fds) };
        } catch (error) {
          fail(`sampling serve: ${error instanceof Error ? error.message : String(error)}`);
          return;
        }
        await sleep(1_000);
      }
    })();

    // The budget is part of flatness: a cache that outgrows it grows the inventory, the heap and the disk.
    const cacheSampler = (async (): Promise<void> => {
      while (running()) {
        const metric = await readMetrics(serve.url);
        const bytes = metric?.('edgepier_cache_size_bytes');
        if (bytes !== undefined && Number.isFinite(bytes)) {
          const bucket = bucketAt(Date.now());
          bucket.maxCacheBytes = Math.max(bucket.maxCacheBytes, bytes);
          peakCacheBytes = Math.max(peakCacheBytes, bytes);
        }
        await sleep(Math.min(CACHE_SAMPLE_MS, Math.max(0, deadline - Date.now())));
      }
    })();

    const reporter = (async (): Promise<void> => {
      let reported = 0;
      while (running()) {
        await sleep(Math.min(1_000, Math.max(0, deadline - Date.now())));
        const complete = Math.floor((Date.now() - started) / options.bucketMs);
        for (; reported < Math.min(complete, buckets.length); reported += 1) {
          const bucket = buckets[reported];
          if (bucket) log(formatBucket(bucket));
        }
      }
    })();

    const puller = async (): Promise<void> => {
      // Spread the first requests so the crowd does not arrive as one burst.
      await sleep(Math.random() * options.thinkMs);
      while (running()) {
        const cold = Math.random() < options.coldShare;
        const image = cold ? upstream.mint([16 * KiB, 128 * KiB]) : warm[Math.floor(Math.random() * warm.length)];
        if (!image) continue;
        const ok = await pullImage(image, true);
        if (cold) upstream.drop(image);
        if (ok && running()) {
          const bucket = bucketAt(Date.now());
          if (cold) {
            pulls.cold += 1;
            bucket.coldPulls += 1;
          } else {
            pulls.cached += 1;
            bucket.cachedPulls += 1;
          }
        }
        await sleep(Math.random() * 2 * options.thinkMs);
      }
    };

    /** Opens the big blob, reads nothing, hangs up after the hold (or notes that the server did). */
    const neverReader = async (): Promise<void> => {
      const url = new URL(blobUrl(big));
      while (running()) {
        neverReaders.opened += 1;
        const socket = connect({ host: url.hostname, port: Number(url.port) });
        openSockets.add(socket);
        socket.pause();
        const outcome = await new Promise<'held' | 'cut'>((resolve) => {
          const timer = setTimeout(() => resolve('held'), Math.min(options.neverReaderHoldMs, Math.max(0, deadline - Date.now())));
          socket.once('close', () => {
            clearTimeout(timer);
            resolve('cut');
          });
          socket.on('error', () => undefined);
          socket.write(`GET ${url.pathname} HTTP/1.1\r\nHost: ${url.host}\r\n\r\n`);
        });
        if (outcome === 'cut') neverReaders.cutByServer += 1;
        else neverReaders.heldToEnd += 1;
        socket.destroy();
        openSockets.delete(socket);
      }
    };

    /** Reads a 2 MiB blob at `slowReaderRate`, checks its digest, and starts again. */
    const slowReader = async (): Promise<void> => {
      while (running()) {
        const result = await new Promise<string>((resolve) => {
          const req = httpRequest(blobUrl(slow), { agent: false }, (response) => {
            const hash = createHash('sha256');
            let bytes = 0;
            const begin = Date.now();
            response.on('data', (chunk: Buffer) => {
              hash.update(chunk);
              bytes += chunk.length;
              const dueMs = (bytes / options.slowReaderRate) * 1000 - (Date.now() - begin);
              if (dueMs > 0) {
                response.pause();
                setTimeout(() => response.resume(), dueMs);
              }
            });
            response.on('end', () => {
              const digest = `sha256:${hash.digest('hex')}`;
              resolve(response.statusCode === 200 && digest === slow.digest && bytes === slow.size ? 'ok' : `status ${response.statusCode} ${bytes} bytes ${digest}`);
            });
            response.on('aborted', () => resolve('cut'));
            response.on('error', () => resolve('cut'));
          });
          // Bounded like the pullers' requests: a minute of silence on the socket is a stuck transfer.
          req.setTimeout(Math.max(60_000, (slow.size / options.slowReaderRate) * 3000), () => req.destroy(new Error('slow reader timed out')));
          req.on('error', (error) => resolve(`slow reader: ${error.message}`));
          req.end();
        });
        if (result === 'ok') slowReaders.completed += 1;
        else if (result === 'cut') slowReaders.cutByServer += 1;
        else fail(`${blobUrl(slow)}: ${result}`);
      }
    };

    await Promise.all([
      sampler,
      cacheSampler,
      reporter,
      ...Array.from({ length: options.clients }, puller),
      ...Array.from({ length: options.neverReaders }, neverReader),
      ...Array.from({ length: options.slowReaders }, slowReader),
    ]);
    for (const socket of openSockets) socket.destroy();
    agent.destroy();

    // The crowd has left: wait (bounded) for the server's fds to come back near idle.
    const leftAt = Date.now();
    let after = await readProcessGauges(serve.process.pid);
    while (Date.now() - leftAt < 30_000 && after.fds > idle.fds + 4) {
      await sleep(500);
      after = await readProcessGauges(serve.process.pid);
    }
    // Then longer for RSS: V8 and malloc hand freed memory back lazily, so wait (bounded) until
    // it stops falling for five samples in a row.
    let lowest = after.rss;
    for (let still = 0, tries = 0; still < 5 && tries < 30; tries += 1) {
      await sleep(1_000);
      after = await readProcessGauges(serve.process.pid);
      if (after.rss < lowest) {
        lowest = after.rss;
        still = 0;
      } else {
        still += 1;
      }
    }
    const settleMs = Date.now() - leftAt;
    const afterHeap = await readHeap(serve.url);
    log(`after the crowd left (${(settleMs / 1000).toFixed(1)} s): RSS ${(after.rss / MiB).toFixed(0)} MiB, ${after.fds} fds, ${formatHeap(afterHeap)}`);
    if (options.heapSnapshotDir !== undefined) log(`heap snapshot after the crowd: ${await takeHeapSnapshot(serve.process.pid, options.heapSnapshotDir)}`);

    const { log: _log, ...plain } = options;
    return {
      options: plain,
      buckets,
      idle: { rss: idle.rss, fds: idle.fds, heap: idleHeap },
      after: { rss: after.rss, fds: after.fds, settleMs, heap: afterHeap },
      peak: { rss: peak.rss, hwm: Math.max(peak.hwm, after.hwm), fds: peak.fds },
      cache: { budgetBytes: options.cacheBudgetBytes ?? DEFAULT_CACHE_BUDGET_BYTES, peakBytes: peakCacheBytes },
      errors,
      errorSamples,
      pulls,
      neverReaders,
      slowReaders,
      upstreamBlobGets: upstream.blobGets,
      flatness: flatness(buckets.filter((bucket) => bucket.startMs + options.bucketMs <= options.durationMs)),
    };
  } finally {
    for (const socket of openSockets) socket.destroy();
    agent.destroy();
    await serve.process.stop();
    await upstream.stop();
  }
}

function flatness(buckets: readonly SoakBucket[]): SoakResult['flatness'] {
  const windowBuckets = Math.max(1, Math.min(5, Math.floor(buckets.length / 3)));
  const first = buckets.slice(0, windowBuckets);
  const last = buckets.slice(-windowBuckets);
  const mean = (values: readonly number[]): number => values.reduce((sum, value) => sum + value, 0) / values.length;
  const ratio = (pick: (window: readonly SoakBucket[]) => number): number => pick(last) / pick(first);
  const pooled = (window: readonly SoakBucket[]): number[] => window.flatMap((bucket) => bucket.latencies);
  return {
    windowBuckets,
    rss: ratio((window) => mean(window.map((bucket) => bucket.maxRss))),
    fds: ratio((window) => mean(window.map((bucket) => bucket.maxFds))),
    p99: ratio((window) => percentile(pooled(window), 0.99)),
    p50: ratio((window) => percentile(pooled(window), 0.5)),
  };
}

export function formatHeap(heap: HeapFigures | undefined): string {
  if (heap === undefined) return 'heap unknown (/metrics did not answer)';
  const mib = (bytes: number): string => (bytes / MiB).toFixed(0);
  return `JS heap ${mib(heap.heapUsed)}/${mib(heap.heapTotal)} MiB used/total, external ${mib(heap.external)} MiB`;
}

export function formatBucket(bucket: SoakBucket): string {
  return [
    `t=${(bucket.startMs / 1000).toFixed(0)}s`,
    `pulls ${bucket.cachedPulls} cached + ${bucket.coldPulls} cold`,
    `errors ${bucket.errors}`,
    `p50 ${percentile(bucket.latencies, 0.5).toFixed(1)} ms`,
    `p99 ${percentile(bucket.latencies, 0.99).toFixed(1)} ms`,
    `RSS ${(bucket.maxRss / MiB).toFixed(0)} MiB`,
    `cache ${(bucket.maxCacheBytes / MiB).toFixed(0)} MiB`,
    `fds ${bucket.maxFds}`,
  ].join(', ');
}
