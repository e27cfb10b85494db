// Hostile-clients benchmark (issue 15): `npm run bench:hostile-clients -- --before /tmp/before`.
// Measures, side by side in one run, the built CLI of this tree ("after") and of another
// worktree ("before", e.g. `git worktree add /tmp/before 7bc380c`, built here):
//  1. N clients that send a blob GET for a cached blob and never read: server RSS and fds at
//     their peak, how long until the server cut them, what is left after they are gone.
//  2. M concurrent readers of one cached blob (every body's length checked): peak RSS.
// Each scenario runs in a fresh EdgePier process (so VmHWM is that scenario's own peak),
// loopback only; every client has a deadline and every process is stopped by its pid.
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { get } from 'node:http';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { CacacheBlobStore } from '../cache/cacache-blob-store.js';
import { MALLOC_ENVIRONMENT } from '../cache/read-buffer-mapping.js';
import { parseDigest, type Digest } from '../oci/digest.js';
import { runCommand } from '../test/support/run-command.js';
import { table, writeBenchmarkSection } from './benchmarks-file.js';
import { positiveIntegerFlag } from './positive-flag.js';
import { readProcessGauges, type ProcessGauges } from './process-gauges.js';
import { mib } from './serve-report.js';
import { DEPLOYED_ENVIRONMENT, startServeProcess, type ServeProcess } from './serve-process.js';
import { readProcessMemory, RssSampler } from './serve-rss.js';
import { percentile, SocketLifetimeTracker, type SocketLifetimes } from './server-sockets.js';

const MiB = 1024 * 1024;
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const STALLED_RSS_TARGET = 200 * 1000 * 1000;
const READERS_RSS_TARGET = 250 * 1000 * 1000;

const { values: flags } = parseArgs({
  options: {
    before: { type: 'string' },
    clients: { type: 'string', default: '1500' },
    readers: { type: 'string', default: '200' },
    'blob-mib': { type: 'string', default: '64' },
    'send-timeout-s': { type: 'string', default: '10' },
    /** How long the never-reading clients stay connected at most (the before tree never cuts them). */
    'window-s': { type: 'string', default: '30' },
    /** How long to wait after the crowd is gone (and the server's fds are back) before "after" is read. */
    'settle-s': { type: 'string', default: '10' },
    'no-write': { type: 'boolean', default: false },
    /** Only scenario 1 (scenario 2 takes many minutes on a busy machine). */
    'skip-readers': { type: 'boolean', default: false },
    /** Only scenario 2. */
    'skip-stalled': { type: 'boolean', default: false },
  },
});
const CLIENTS = positive('clients');
const READERS = positive('readers');
const BLOB_BYTES = positive('blob-mib') * MiB;
const SEND_TIMEOUT_S = positive('send-timeout-s');
const WINDOW_MS = positive('window-s') * 1000;
/** The cap is raised past the crowd so that every client of scenario 1 is a stalled one. */
const LIMIT_FLAGS = ['--send-timeout', `${SEND_TIMEOUT_S}s`, '--max-connections', String(CLIENTS + 100)];
const SETTLE_MS = positive('settle-s') * 1000;

function positive(name: keyof typeof flags): number {
  return positiveIntegerFlag(name, flags[name]);
}

interface Tree {
  readonly label: string;
  readonly root: string;
  /** Flags only this tree knows. */
  readonly extraFlags: readonly string[];
  /** How that tree's node was deployed: the deploy files' glibc settings from the tree that has them on. */
  readonly env: NodeJS.ProcessEnv;
}

/** What this bench compares of the server: resident memory and open fds. */
type Gauges = Pick<ProcessGauges, 'rss' | 'fds'>;

/** Where the after-crowd RSS sits, from the server's own /metrics (prom-client's process gauges). */
interface HeapSplit {
  readonly heapUsed: number;
  readonly external: number;
}

async function heapSplit(url: string): Promise<HeapSplit | undefined> {
  try {
    const text = await (await fetch(`${url}/metrics`)).text();
    const gauge = (name: string): number => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? Number.NaN);
    return { heapUsed: gauge('nodejs_heap_size_used_bytes'), external: gauge('nodejs_external_memory_bytes') };
  } catch {
    return undefined;
  }
}

/** The crowd is gone and the server holds no more of its fds: wait SETTLE_MS, then read what stayed. */
async function settled(pid: number, url: string, idle: Gauges): Promise<{ after: Gauges; split: HeapSplit | undefined }> {
  await pollGauges(pid, 15_000, (now) => now.fds <= idle.fds + 5, () => undefined);
  await new Promise((resolvePromise) => setTimeout(resolvePromise, SETTLE_MS));
  return { after: await gauges(pid), split: await heapSplit(url) };
}

const gauges = readProcessGauges;

async function build(root: string): Promise<void> {
  await runCommand(join(ROOT, 'node_modules', '.bin', 'tsc'), ['-p', join(root, 'tsconfig.build.json')], { timeoutMs: 300_000, cwd: root });
}

function startEdgePier(tree: Tree, cacheDir: string): Promise<ServeProcess> {
  return startServeProcess({
    entry: [join(tree.root, 'dist', 'cli', 'main.js')],
    cacheDir,
    upstream: 'http://127.0.0.1:9',
    args: ['--log-level', 'warn', ...tree.extraFlags],
    name: `edgepier (${tree.label})`,
    env: tree.env,
  });
}

async function cacheBlob(cacheDir: string): Promise<Digest> {
  const store = new CacacheBlobStore(cacheDir);
  const bytes = randomBytes(BLOB_BYTES);
  const digest = parseDigest(`sha256:${createHash('sha256').update(bytes).digest('hex')}`);
  const writer = await store.createWriter(digest);
  for (let offset = 0; offset < bytes.length; offset += 8 * MiB) await writer.write(bytes.subarray(offset, offset + 8 * MiB));
  await writer.commit();
  await writer.abort();
  return digest;
}

function neverReadingClient(port: number, path: string): Promise<Socket> {
  return new Promise((resolvePromise, reject) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.pause();
      socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
      resolvePromise(socket);
    });
    socket.setTimeout(WINDOW_MS + 60_000, () => socket.destroy());
    socket.once('error', reject);
  });
}

/** Polls `pid` every 100 ms until `done` holds or `deadlineMs` passes; returns when it held (or undefined). */
async function pollGauges(pid: number, deadlineMs: number, done: (now: Gauges) => boolean, seen: (now: Gauges) => void): Promise<number | undefined> {
  const started = Date.now();
  while (Date.now() - started < deadlineMs) {
    const now = await gauges(pid);
    seen(now);
    if (done(now)) return Date.now() - started;
    await new Promise((resolvePromise) => setTimeout(resolvePromise, 100));
  }
  return undefined;
}

interface StalledResult {
  readonly idle: Gauges;
  readonly peak: Gauges;
  readonly hwm: number;
  /** From the last client connected until the server held no more of their fds; undefined: not within the window. */
  readonly cutMs: number | undefined;
  /** Client fds the server still held at the end of the window. */
  readonly stillOpen: number;
  /** Each client connection as the server saw it, accept to close. */
  readonly lifetimes: SocketLifetimes;
  readonly after: Gauges;
  readonly split: HeapSplit | undefined;
}

async function stalledScenario(tree: Tree, cacheDir: string, digest: Digest): Promise<StalledResult> {
  const edgepier = await startEdgePier(tree, cacheDir);
  const clients: Socket[] = [];
  try {
    const pid = edgepier.process.pid;
    const idle = await gauges(pid);
    const tracker = new SocketLifetimeTracker(pid);
    await tracker.ready;
    let peakRss = idle.rss;
    let peakFds = idle.fds;
    const seen = (now: Gauges): void => {
      peakRss = Math.max(peakRss, now.rss);
      peakFds = Math.max(peakFds, now.fds);
    };
    for (let batch = 0; batch < CLIENTS; batch += 100) {
      const count = Math.min(100, CLIENTS - batch);
      clients.push(...(await Promise.all(Array.from({ length: count }, () => neverReadingClient(edgepier.port, `/v2/bench/hostile/blobs/${digest.value}`)))));
    }
    // Cut: the server's fds are back to (near) idle while every client still holds its end.
    const cutMs = await pollGauges(pid, WINDOW_MS, (now) => now.fds <= idle.fds + 5, seen);
    const atEnd = await gauges(pid);
    seen(atEnd);
    const { hwm } = await readProcessMemory(pid);
    for (const client of clients) client.destroy();
    // The crowd left: wait (bounded) for the server to let go of everything.
    const { after, split } = await settled(pid, edgepier.url, idle);
    const lifetimes = await tracker.stop();
    return { idle, peak: { rss: peakRss, fds: peakFds }, hwm, cutMs, stillOpen: Math.max(0, atEnd.fds - idle.fds), lifetimes, after, split };
  } finally {
    for (const client of clients) client.destroy();
    await edgepier.process.stop();
  }
}

interface ReadersResult {
  readonly idle: Gauges;
  readonly maxSampled: number;
  readonly hwm: number;
  readonly ms: number;
  readonly ok: number;
  readonly problems: readonly string[];
  readonly after: Gauges;
  readonly split: HeapSplit | undefined;
}

function readWhole(url: string): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    const request = get(url, { agent: false, timeout: 120_000 }, (response) => {
      let bytes = 0;
      response.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
      });
      response.on('end', () => (response.statusCode === 200 ? resolvePromise(bytes) : reject(new Error(`status ${response.statusCode}`))));
      response.on('error', reject);
    });
    request.on('timeout', () => request.destroy(new Error('reader timed out')));
    request.on('error', reject);
  });
}

async function readersScenario(tree: Tree, cacheDir: string, digest: Digest): Promise<ReadersResult> {
  const edgepier = await startEdgePier(tree, cacheDir);
  try {
    const pid = edgepier.process.pid;
    const idle = await gauges(pid);
    const sampler = new RssSampler(pid, 20);
    const started = Date.now();
    const results = await Promise.allSettled(Array.from({ length: READERS }, () => readWhole(`${edgepier.url}/v2/bench/hostile/blobs/${digest.value}`)));
    const ms = Date.now() - started;
    const rss = await sampler.stop();
    const problems = results.flatMap((result) =>
      result.status === 'rejected' ? [String(result.reason)] : result.value === BLOB_BYTES ? [] : [`got ${result.value} bytes of ${BLOB_BYTES}`],
    );
    const { after, split } = await settled(pid, edgepier.url, idle);
    return { idle, maxSampled: rss.maxSampled, hwm: rss.hwm, ms, ok: READERS - problems.length, problems: [...new Set(problems)].slice(0, 5), after, split };
  } finally {
    await edgepier.process.stop();
  }
}

function mb(bytes: number): string {
  return `${Math.round(bytes / 1e6)} MB`;
}

function afterCell(after: Gauges, split: HeapSplit | undefined): string {
  const heap = split && Number.isFinite(split.heapUsed) ? ` (JS heap ${mb(split.heapUsed)}, buffers ${mb(split.external)})` : '';
  return `${mb(after.rss)}${heap}, ${after.fds} fds`;
}

/** The server's view: longest-lived client connections, against the send timeout. */
function lifetimeCell(lifetimes: SocketLifetimes): string {
  const all = lifetimes.closedMs;
  const seconds = (ms: number | undefined): string => (ms === undefined ? '-' : `${(ms / 1000).toFixed(1)} s`);
  const late = all.filter((ms) => ms > (SEND_TIMEOUT_S + 2) * 1000).length;
  return `max ${seconds(all.at(-1))}, p99 ${seconds(percentile(all, 0.99))}, p50 ${seconds(percentile(all, 0.5))}; ${late} of ${lifetimes.seen} over ${SEND_TIMEOUT_S + 2} s${lifetimes.open > 0 ? `, ${lifetimes.open} never closed` : ''}`;
}

async function main(): Promise<void> {
  const trees: Tree[] = [];
  if (flags.before !== undefined) {
    const before = resolve(flags.before);
    if (!existsSync(join(before, 'tsconfig.build.json'))) throw new Error(`${before} is not an EdgePier worktree`);
    // A before tree that has the send timeout and the cap gets the same flags (it is then the
    // same limits, measured on older code); one from before them gets none.
    const configDir = join(before, 'config');
    const knowsLimits = readdirSync(configDir).some((file) => file.endsWith('.ts') && readFileSync(join(configDir, file), 'utf8').includes("'--send-timeout'"));
    const knowsMapping = existsSync(join(before, 'cache', 'read-buffer-mapping.ts'));
    trees.push({ label: 'before', root: before, extraFlags: knowsLimits ? LIMIT_FLAGS : [], env: knowsMapping ? DEPLOYED_ENVIRONMENT : process.env });
  }
  trees.push({ label: 'after', root: ROOT, extraFlags: LIMIT_FLAGS, env: DEPLOYED_ENVIRONMENT });
  for (const tree of trees) await build(tree.root);
  const workDir = await mkdtemp(join(tmpdir(), 'edgepier-bench-hostile-'));
  try {
    const cacheDir = join(workDir, 'cache');
    const digest = await cacheBlob(cacheDir);
    const stalled = new Map<string, StalledResult>();
    const readers = new Map<string, ReadersResult>();
    for (const tree of flags['skip-stalled'] ? [] : trees) {
      stalled.set(tree.label, await stalledScenario(tree, cacheDir, digest));
      console.error(tree.label, 'stalled', JSON.stringify(stalled.get(tree.label)));
    }
    for (const tree of flags['skip-readers'] ? [] : trees) {
      readers.set(tree.label, await readersScenario(tree, cacheDir, digest));
      console.error(tree.label, 'readers', JSON.stringify(readers.get(tree.label)));
    }
    const stalledRows = trees.flatMap((tree) => {
      const r = stalled.get(tree.label);
      if (!r) return [];
      const delta = r.peak.rss - r.idle.rss;
      return [[
        tree.label,
        mb(r.idle.rss),
        `${mb(r.peak.rss)} (+${mb(delta)})${tree.label === 'after' ? (delta < STALLED_RSS_TARGET ? ' ✓' : ' ✗') : ''}`,
        String(r.peak.fds),
        r.cutMs === undefined ? `not cut: ${r.stillOpen} fds held after ${WINDOW_MS / 1000} s` : `${(r.cutMs / 1000).toFixed(1)} s`,
        lifetimeCell(r.lifetimes),
        afterCell(r.after, r.split),
      ]];
    });
    const readerRows = trees.flatMap((tree) => {
      const r = readers.get(tree.label);
      if (!r) return [];
      const peak = Math.max(r.maxSampled, r.hwm);
      return [[
        tree.label,
        mb(r.idle.rss),
        `${mb(peak)}${tree.label === 'after' ? (peak < READERS_RSS_TARGET ? ' ✓' : ' ✗') : ''}`,
        `${(r.ms / 1000).toFixed(1)} s (${mib((READERS * BLOB_BYTES) / (r.ms / 1000))} MiB/s)`,
        `${r.ok}/${READERS}${r.problems.length > 0 ? ` (${r.problems.join('; ')})` : ''}`,
        afterCell(r.after, r.split),
      ]];
    });
    const command = `npm run bench:hostile-clients -- --before ${flags.before ?? '<none>'} --clients ${CLIENTS} --readers ${READERS} --blob-mib ${BLOB_BYTES / MiB} --send-timeout-s ${SEND_TIMEOUT_S} --window-s ${WINDOW_MS / 1000} --settle-s ${SETTLE_MS / 1000}${flags['skip-readers'] ? ' --skip-readers' : ''}${flags['skip-stalled'] ? ' --skip-stalled' : ''}`;
    const body = [
      `Command: \`${command}\` (built CLI of each tree; before = the \`--before\` worktree, after = this tree, both run with \`${LIMIT_FLAGS.join(' ')}\` when the before tree knows those flags, and with the environment its deploy files set: \`${Object.entries(MALLOC_ENVIRONMENT).map(([name, value]) => `${name}=${value}`).join(' ')}\` from the tree that sets it on). Loopback, one cached ${BLOB_BYTES / MiB} MiB blob, a fresh EdgePier process per scenario, ${new Date().toISOString().slice(0, 10)}.`,
      ...(stalledRows.length === 0
        ? []
        : [
            '',
            `### ${CLIENTS} clients that send a blob GET and never read`,
            '',
            `Target (after): peak RSS under idle + ${mb(STALLED_RSS_TARGET)}, every client cut within the send timeout (the sweep adds up to 1 s). "Cut" is from the last client connected until the server's fds are back to idle + 5.`,
            '',
            `"Connection lifetime" is the server's own view (socket inodes in its /proc fd table, polled every 200 ms): accept to close. A client's connect() returns once the kernel has finished the handshake, which can be long before the server accepts when its accept queue is full or it is starved of CPU, so "cut after" (client clock) overstates it. "After" is read ${SETTLE_MS / 1000} s after the server's fds were back to idle.`,
            '',
            table(['tree', 'idle RSS', 'peak RSS', 'peak fds', 'cut after (from the last connect)', 'connection lifetime (server side)', 'after the crowd left'], stalledRows),
          ]),
      ...(readerRows.length === 0
        ? []
        : [
            '',
            `### ${READERS} concurrent readers of the cached ${BLOB_BYTES / MiB} MiB blob`,
            '',
            `Target (after): peak RSS (VmHWM) under ${mb(READERS_RSS_TARGET)}.`,
            '',
            table(['tree', 'idle RSS', 'peak RSS', 'all done in', 'complete bodies', 'after'], readerRows),
          ]),
    ].join('\n');
    console.log(body);
    if (!flags['no-write']) await writeBenchmarkSection(join(ROOT, 'BENCHMARKS.md'), '## Hostile clients', body);
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}

await main();
