// Soak benchmark (issue 15): `npm run bench:soak` (30 minutes by default; `-- --duration 5m`).
// Runs bench/soak-run.ts against the built CLI, prints a row per minute and a summary of what
// it measured, and writes them into the `## Soak` section of BENCHMARKS.md.
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { parseDuration } from '../config/parse-duration.js';
import { writeBenchmarkSection, table } from './benchmarks-file.js';
import { CACHE_SAMPLE_MS, formatHeap, percentile, runSoak, type SoakResult } from './soak-run.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const MiB = 1024 * 1024;

const { values: flags } = parseArgs({
  options: {
    duration: { type: 'string', default: '30m' },
    bucket: { type: 'string', default: '1m' },
    clients: { type: 'string', default: '200' },
    'cold-share': { type: 'string', default: '0.1' },
    'think-ms': { type: 'string', default: '1000' },
    'never-readers': { type: 'string', default: '20' },
    'slow-readers': { type: 'string', default: '10' },
    /** Passed to `serve` as is, e.g. `--serve-arg=--send-timeout --serve-arg=30s`. */
    'serve-arg': { type: 'string', multiple: true, default: [] },
    /** A directory: the server writes heap snapshots there after the warm-up and after the crowd. */
    'heap-snapshots': { type: 'string' },
    'no-write': { type: 'boolean', default: false },
  },
});

function milliseconds(name: 'duration' | 'bucket'): number {
  const parsed = parseDuration(flags[name]);
  if (!parsed.ok) throw new Error(`--${name}: ${parsed.errors.join('; ')}`);
  return parsed.value;
}

function count(name: 'clients' | 'never-readers' | 'slow-readers' | 'think-ms'): number {
  const value = Number(flags[name]);
  if (!Number.isInteger(value) || value < 0) throw new Error(`--${name} must be a whole number`);
  return value;
}

const mib = (bytes: number): string => (bytes / MiB).toFixed(0);
const ms = (value: number): string => value.toFixed(1);

function report(result: SoakResult, command: string): string {
  const { options } = result;
  const rows = result.buckets
    .filter((bucket) => bucket.startMs + options.bucketMs <= options.durationMs)
    .map((bucket) => [
      `${Math.floor(bucket.startMs / 60_000)}:${String(Math.floor((bucket.startMs % 60_000) / 1000)).padStart(2, '0')}`,
      String(bucket.cachedPulls),
      String(bucket.coldPulls),
      String(bucket.errors),
      ms(percentile(bucket.latencies, 0.5)),
      ms(percentile(bucket.latencies, 0.99)),
      mib(bucket.maxRss),
      String(bucket.maxFds),
      mib(bucket.maxCacheBytes),
    ]);
  const { flatness } = result;
  return [
    `Run with \`${command}\` on ${new Date().toISOString().slice(0, 10)} (nproc ${availableParallelism()}, Node ${process.version}; the machine was shared with other agents' work, so absolute latencies are noisy).`,
    '',
    `Load: ${options.clients} pullers (manifest by tag, config, layers; each body sha256-checked; think time 0–${2 * options.thinkMs} ms), ${options.coldShare * 100}% of pulls a brand-new image from a loopback upstream that mints them as the soak runs, ${options.neverReaders} clients that request a 16 MiB blob and never read (hang up after ${options.neverReaderHoldMs / 1000} s, then reconnect), ${options.slowReaders} clients reading a 2 MiB blob at ${options.slowReaderRate / 1024} KiB/s. Server: the built CLI, \`--cache-max-size 512MiB --log-level warn --tag-timeout 30s\`${options.serveArgs?.length ? ` ${options.serveArgs.join(' ')}` : ''}. RSS and fds from /proc/PID every second (the row shows the bucket's maximum); latency is per HTTP request of the pullers.`,
    '',
    `- **errors: ${result.errors}**${result.errorSamples.length ? ` (first: ${result.errorSamples.slice(0, 3).join('; ')})` : ''}`,
    `- pulls: ${result.pulls.cached} cached + ${result.pulls.cold} cold; upstream blob GETs ${result.upstreamBlobGets}`,
    `- flatness, last ${flatness.windowBuckets} buckets ÷ first ${flatness.windowBuckets}: RSS **${flatness.rss.toFixed(2)}×**, fds **${flatness.fds.toFixed(2)}×**, p99 **${flatness.p99.toFixed(2)}×**, p50 ${flatness.p50.toFixed(2)}×`,
    `- idle (after warm-up) RSS ${mib(result.idle.rss)} MiB, ${result.idle.fds} fds; peak RSS ${mib(result.peak.rss)} MiB (VmHWM ${mib(result.peak.hwm)}), peak fds ${result.peak.fds}; after the crowd left (${(result.after.settleMs / 1000).toFixed(0)} s): RSS ${mib(result.after.rss)} MiB, ${result.after.fds} fds`,
    `- the cache against its ${mib(result.cache.budgetBytes)} MiB budget (/metrics every ${CACHE_SAMPLE_MS / 1000} s): peak ${mib(result.cache.peakBytes)} MiB (${(result.cache.peakBytes / result.cache.budgetBytes).toFixed(2)}×)`,
    `- the server's own figures (/metrics): idle ${formatHeap(result.idle.heap)}; after the crowd left ${formatHeap(result.after.heap)}`,
    `- never-readers: ${result.neverReaders.opened} opened, ${result.neverReaders.cutByServer} cut by the server, ${result.neverReaders.heldToEnd} held until the client hung up; slow readers: ${result.slowReaders.completed} completed with the right digest, ${result.slowReaders.cutByServer} cut by the server`,
    '',
    table(['from (m:ss)', 'cached pulls', 'cold pulls', 'errors', 'p50 ms', 'p99 ms', 'max RSS MiB', 'max fds', 'max cache MiB'], rows),
  ].join('\n');
}

async function main(): Promise<void> {
  if (!existsSync(join(ROOT, 'dist', 'cli', 'main.js'))) throw new Error('dist/cli/main.js is missing: run `npm run build` first (npm run bench:soak does)');
  const command = `npm run bench:soak${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
  const cacheDir = await mkdtemp(join(tmpdir(), 'edgepier-soak-'));
  try {
    const result = await runSoak({
      durationMs: milliseconds('duration'),
      bucketMs: milliseconds('bucket'),
      clients: count('clients'),
      coldShare: Number(flags['cold-share']),
      thinkMs: count('think-ms'),
      neverReaders: count('never-readers'),
      neverReaderHoldMs: 20_000,
      slowReaders: count('slow-readers'),
      slowReaderRate: 256 * 1024,
      cacheDir,
      cli: 'dist',
      serveArgs: flags['serve-arg'],
      ...(flags['heap-snapshots'] ? { heapSnapshotDir: flags['heap-snapshots'] } : {}),
      log: (line) => console.log(line),
    });
    const text = report(result, command);
    console.log(`\n${text}\n`);
    if (!flags['no-write']) {
      await writeBenchmarkSection(join(ROOT, 'BENCHMARKS.md'), '## Soak', text);
      console.log('wrote BENCHMARKS.md ## Soak');
    }
    if (result.errors > 0) process.exitCode = 1;
  } finally {
    await rm(cacheDir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
  process.exitCode = 1;
});
