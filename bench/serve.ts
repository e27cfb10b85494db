// Serving benchmark (issue 4 item 3): `npm run bench:serve`.
//  1. Cache-hit blob throughput of the built EdgePier CLI against nginx (sendfile) serving the
//     very same cache file, alternating rounds, wrk as the load generator.
//  2. Peak RSS of the EdgePier process while 8 clients pull a 1 GiB layer, cached and cold
//     (cut-through behind a download from a loopback upstream), with every body's sha256 checked.
// Writes the results into the `## Serving` section of BENCHMARKS.md.
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, open, readFile, rm } from 'node:fs/promises';
import { availableParallelism, release, tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import cacache from 'cacache';
import { blobKey } from '../cache/cacache-blob-store.js';
import { parseDigest } from '../oci/digest.js';
import { runCommand } from '../test/support/run-command.js';
import { positiveIntegerFlag } from './positive-flag.js';
import type { ClientReport, ClientRequest } from './serve-client.js';
import { startNginx, type NginxServer } from './serve-nginx.js';
import { writeBenchmarkSection, table } from './benchmarks-file.js';
import { median, mib } from './serve-report.js';
import { startServeProcess, type ServeProcess } from './serve-process.js';
import { readProcessMemory, RssSampler, type RssSummary } from './serve-rss.js';
import { FileUpstream, type UpstreamBlobFile } from './serve-upstream.js';
import { runWrk, type WrkResult } from './serve-wrk.js';

const MiB = 1024 * 1024;
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CLI = join(ROOT, 'dist', 'cli', 'main.js');
const CLIENT = join(ROOT, 'bench', 'serve-client.ts');
const REPOSITORY = 'bench/serve';
const THROUGHPUT_TARGET = 0.8;
const RSS_TARGET = 150 * 1000 * 1000;

const { values: flags } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    seconds: { type: 'string', default: '3' },
    'small-blobs': { type: 'string', default: '32' },
    'nginx-workers': { type: 'string', default: '1' },
    'layer-mib': { type: 'string', default: '1024' },
    'throttle-mib': { type: 'string', default: '200' },
    'skip-throughput': { type: 'boolean', default: false },
    'skip-rss': { type: 'boolean', default: false },
    'no-write': { type: 'boolean', default: false },
    /** Writes a V8 CPU profile of each EdgePier process into this directory (--cpu-prof). */
    profile: { type: 'string' },
  },
});
const ROUNDS = positive('rounds');
const SECONDS = positive('seconds');
const SMALL_BLOBS = positive('small-blobs');
const NGINX_WORKERS = positive('nginx-workers');
const LAYER_BYTES = positive('layer-mib') * MiB;
const THROTTLE = positive('throttle-mib') * MiB;

function positive(name: keyof typeof flags): number {
  return positiveIntegerFlag(name, flags[name]);
}

function startEdgePier(cacheDir: string, upstream: string): Promise<ServeProcess> {
  const entry = [...(flags.profile ? ['--cpu-prof', '--cpu-prof-dir', flags.profile] : []), CLI];
  return startServeProcess({ entry, cacheDir, upstream, name: 'edgepier' });
}

/** Writes `size` random bytes to `path`, returning its digest. */
async function writeRandomFile(path: string, size: number): Promise<UpstreamBlobFile> {
  const hash = createHash('sha256');
  const file = await open(path, 'w');
  try {
    for (let written = 0; written < size; ) {
      const chunk = randomBytes(Math.min(8 * MiB, size - written));
      hash.update(chunk);
      await file.write(chunk);
      written += chunk.length;
    }
  } finally {
    await file.close();
  }
  return { digest: `sha256:${hash.digest('hex')}`, path, size };
}

/** Runs serve-client.ts in its own process (bounded); `expected[i]` is what `urls[i]` must return. */
async function pull(urls: readonly string[], concurrency: number, expected: readonly UpstreamBlobFile[]): Promise<ClientReport & { ok: boolean; problems: string[] }> {
  const request: ClientRequest = { urls, concurrency };
  const { stdout } = await runCommand(process.execPath, ['--import', 'tsx', CLIENT, JSON.stringify(request)], { timeoutMs: 600_000, cwd: ROOT });
  const report = JSON.parse(stdout.toString('utf8')) as ClientReport;
  const problems: string[] = [];
  report.results.forEach((result, index) => {
    const want = expected[index];
    if (result.status !== 200) problems.push(`${result.url}: status ${result.status} ${result.error ?? ''}`);
    else if (result.error) problems.push(`${result.url}: ${result.error}`);
    else if (!want) problems.push(`${result.url}: no expected digest`);
    else if (result.sha256 !== want.digest || result.bytes !== want.size) problems.push(`${result.url}: got ${result.bytes} bytes ${result.sha256}, want ${want.size} ${want.digest}`);
  });
  return { ...report, ok: problems.length === 0, problems };
}

interface ThroughputScenario {
  readonly name: string;
  readonly connections: number;
  readonly edgepierPaths: readonly string[];
  readonly nginxPaths: readonly string[];
  readonly blobBytes: number;
}

interface ThroughputRow {
  readonly scenario: ThroughputScenario;
  readonly edgepier: WrkResult[];
  readonly nginx: WrkResult[];
}

interface MemoryRun {
  readonly name: string;
  readonly rss: RssSummary;
  readonly idleRss: number;
  readonly clientMs: number;
  readonly ok: boolean;
  readonly problems: readonly string[];
  readonly sources: string;
  readonly upstreamGets: number;
}

function blobPath(digest: string): string {
  return `/v2/${REPOSITORY}/blobs/${digest}`;
}

async function contentPathInCache(cacheDir: string, digest: string): Promise<string> {
  const info = await cacache.get.info(cacheDir, blobKey(parseDigest(digest)));
  if (!info) throw new Error(`${digest} is not in ${cacheDir}`);
  return `/${relative(cacheDir, info.path)}`;
}

async function measureThroughput(workDir: string, upstream: FileUpstream, big: UpstreamBlobFile, small: readonly UpstreamBlobFile[]): Promise<{ rows: ThroughputRow[]; hwm: number; nginxConfig: string }> {
  const cacheDir = join(workDir, 'cache-throughput');
  const edgepier = await startEdgePier(cacheDir, upstream.url);
  let nginx: NginxServer | undefined;
  try {
    const all = [big, ...small];
    const fill = await pull(all.map((blob) => `${edgepier.url}${blobPath(blob.digest)}`), 4, all);
    if (!fill.ok) throw new Error(`filling the cache failed:\n${fill.problems.join('\n')}`);
    const nginxPathOf = new Map<string, string>();
    for (const blob of all) nginxPathOf.set(blob.digest, await contentPathInCache(cacheDir, blob.digest));
    nginx = await startNginx({ root: cacheDir, workDir, workers: NGINX_WORKERS });
    // Same bytes from both servers, before timing anything.
    const nginxUrl = nginx.url;
    const check = await pull(all.map((blob) => `${nginxUrl}${nginxPathOf.get(blob.digest) ?? ''}`), 4, all);
    if (!check.ok) throw new Error(`nginx does not serve the cache files:\n${check.problems.join('\n')}`);

    const edgepierSmall = small.map((blob) => blobPath(blob.digest));
    const nginxSmall = small.map((blob) => nginxPathOf.get(blob.digest) ?? '');
    const nginxBig = [nginxPathOf.get(big.digest) ?? ''];
    const scenarios: ThroughputScenario[] = [
      { name: `1 × ${mib(big.size)} MiB, 1 conn`, connections: 1, edgepierPaths: [blobPath(big.digest)], nginxPaths: nginxBig, blobBytes: big.size },
      { name: `1 × ${mib(big.size)} MiB, 8 conns`, connections: 8, edgepierPaths: [blobPath(big.digest)], nginxPaths: nginxBig, blobBytes: big.size },
      { name: `${small.length} × 1 MiB, 1 conn`, connections: 1, edgepierPaths: edgepierSmall, nginxPaths: nginxSmall, blobBytes: MiB },
      { name: `${small.length} × 1 MiB, 8 conns`, connections: 8, edgepierPaths: edgepierSmall, nginxPaths: nginxSmall, blobBytes: MiB },
    ];
    const rows: ThroughputRow[] = scenarios.map((scenario) => ({ scenario, edgepier: [], nginx: [] }));
    const servers = { edgepier: edgepier.url, nginx: nginx.url };
    const runOne = (row: ThroughputRow, server: 'edgepier' | 'nginx', seconds: number): Promise<WrkResult> =>
      runWrk({
        baseUrl: servers[server],
        paths: server === 'edgepier' ? row.scenario.edgepierPaths : row.scenario.nginxPaths,
        connections: row.scenario.connections,
        seconds,
        workDir,
      });
    console.log('warming up (1 s per scenario and server)');
    for (const row of rows) {
      await runOne(row, 'edgepier', 1);
      await runOne(row, 'nginx', 1);
    }
    for (let round = 0; round < ROUNDS; round += 1) {
      // ABBA: alternate which server goes first so drift on a shared machine hits both.
      const order: Array<'edgepier' | 'nginx'> = round % 2 === 0 ? ['edgepier', 'nginx'] : ['nginx', 'edgepier'];
      for (const row of rows) {
        for (const server of order) {
          const result = await runOne(row, server, SECONDS);
          if (result.errors > 0) throw new Error(`${server} ${row.scenario.name}: ${result.errors} wrk errors`);
          row[server].push(result);
        }
      }
      console.log(
        `round ${round + 1}/${ROUNDS}: ${rows
          .map((row) => `${row.scenario.name}: ${mib(row.edgepier.at(-1)?.throughput ?? 0)}/${mib(row.nginx.at(-1)?.throughput ?? 0)} MiB/s`)
          .join('; ')}`,
      );
    }
    const memory = await readProcessMemory(edgepier.process.pid);
    return { rows, hwm: memory.hwm, nginxConfig: nginx.config };
  } finally {
    await nginx?.process.stop();
    await edgepier.process.stop();
    await rm(cacheDir, { recursive: true, force: true });
  }
}

async function measureMemory(name: string, cacheDir: string, upstream: FileUpstream, layer: UpstreamBlobFile, rate: number): Promise<MemoryRun> {
  upstream.rate = rate;
  const before = upstream.blobGets;
  const edgepier = await startEdgePier(cacheDir, upstream.url);
  try {
    // Let startup settle (cache listing, lazy imports) so "idle" means idle.
    await new Promise((resolve) => setTimeout(resolve, 500));
    const idle = await readProcessMemory(edgepier.process.pid);
    const sampler = new RssSampler(edgepier.process.pid, 50);
    const report = await pull(
      Array.from({ length: 8 }, () => `${edgepier.url}${blobPath(layer.digest)}`),
      8,
      Array.from({ length: 8 }, () => layer),
    ).finally(() => sampler.stop());
    const rss = await sampler.stop();
    const sources = [...new Set(report.results.map((result) => result.source ?? '?'))].join('+');
    return { name, rss, idleRss: idle.rss, clientMs: report.ms, ok: report.ok, problems: report.problems, sources, upstreamGets: upstream.blobGets - before };
  } finally {
    upstream.rate = 0;
    await edgepier.process.stop();
  }
}

async function machine(): Promise<string> {
  const cpuinfo = await readFile('/proc/cpuinfo', 'utf8');
  const model = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1] ?? 'unknown';
  const free = (await runCommand('free', ['-h'])).stdout.toString('utf8').trimEnd();
  const nginx = (await runCommand('nginx', ['-v'])).stderr.trim();
  // `wrk -v` prints its version and exits 1.
  const wrk = spawnSync('wrk', ['-v'], { timeout: 5_000, encoding: 'utf8' }).stdout.split('\n')[0]?.trim();
  return [
    `- nproc: ${availableParallelism()}; CPU: ${model}; kernel ${release()}`,
    `- Node ${process.version}; ${nginx}; ${wrk ?? 'wrk'}`,
    '- free -h:',
    '',
    '```',
    free,
    '```',
  ].join('\n');
}

function throughputSection(rows: readonly ThroughputRow[], hwm: number): { text: string; met: boolean } {
  let met = true;
  const body = rows.map((row) => {
    const edge = median(row.edgepier.map((result) => result.throughput));
    const ref = median(row.nginx.map((result) => result.throughput));
    const ratio = edge / ref;
    // Rounds alternate the two servers back to back, so each round's own ratio cancels
    // most of the machine's drift; its median is the steadier number.
    const paired = median(row.edgepier.map((result, index) => result.throughput / (row.nginx[index]?.throughput ?? Number.NaN)));
    if (ratio < THROUGHPUT_TARGET) met = false;
    const range = (results: readonly WrkResult[]): string =>
      `${mib(Math.min(...results.map((result) => result.throughput)))}–${mib(Math.max(...results.map((result) => result.throughput)))}`;
    const p50 = (results: readonly WrkResult[]): string => median(results.map((result) => result.p50Ms)).toFixed(1);
    return [
      row.scenario.name,
      `${mib(edge)} (${range(row.edgepier)})`,
      `${mib(ref)} (${range(row.nginx)})`,
      `**${ratio.toFixed(2)}×**`,
      `${paired.toFixed(2)}×`,
      `${p50(row.edgepier)} / ${p50(row.nginx)}`,
      ratio >= THROUGHPUT_TARGET ? 'yes' : '**no**',
    ];
  });
  const text = [
    table(['scenario', 'EdgePier MiB/s median (min–max)', 'nginx MiB/s median (min–max)', 'EdgePier/nginx (of medians)', 'median of per-round ratios', 'p50 latency ms (EdgePier / nginx)', `≥ ${THROUGHPUT_TARGET}×`], body),
    '',
    `EdgePier peak RSS (VmHWM) over the whole throughput run: ${mib(hwm)} MiB.`,
  ].join('\n');
  return { text, met };
}

function memorySection(runs: readonly MemoryRun[]): { text: string; met: boolean } {
  let met = true;
  const body = runs.map((run) => {
    const peak = Math.max(run.rss.hwm, run.rss.maxSampled);
    if (peak > RSS_TARGET || !run.ok) met = false;
    return [
      run.name,
      `${mib(run.idleRss)}`,
      `${mib(run.rss.maxSampled)} (${run.rss.samples} samples)`,
      `**${mib(run.rss.hwm)}**`,
      peak <= RSS_TARGET ? 'yes' : '**no**',
      run.ok ? '8/8 sha256 ok' : `**${run.problems.length} bad**`,
      run.sources,
      String(run.upstreamGets),
      `${(run.clientMs / 1000).toFixed(1)} s (${mib((8 * LAYER_BYTES) / (run.clientMs / 1000))} MiB/s total)`,
    ];
  });
  return {
    text: table(
      [`${mib(LAYER_BYTES)} MiB layer, 8 clients`, 'idle RSS MiB', 'max VmRSS MiB (50 ms)', 'VmHWM MiB', '≤ 150 MB', 'bodies', 'X-EdgePier-Source', 'upstream GETs', 'all 8 done in'],
      body,
    ),
    met,
  };
}

async function main(): Promise<void> {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first (npm run bench:serve does)`);
  const command = `npm run bench:serve${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
  const workDir = await mkdtemp(join(tmpdir(), 'edgepier-bench-serve-'));
  const upstream = new FileUpstream();
  const sections: string[] = [];
  const verdicts: string[] = [];
  try {
    await mkdir(join(workDir, 'blobs'));
    await upstream.start();
    if (!flags['skip-throughput']) {
      console.log(`throughput: writing 64 MiB + ${SMALL_BLOBS} × 1 MiB random blobs`);
      const big = await writeRandomFile(join(workDir, 'blobs', 'big'), 64 * MiB);
      const small: UpstreamBlobFile[] = [];
      for (let index = 0; index < SMALL_BLOBS; index += 1) small.push(await writeRandomFile(join(workDir, 'blobs', `small-${index}`), MiB));
      for (const blob of [big, ...small]) upstream.add(blob);
      const { rows, hwm } = await measureThroughput(workDir, upstream, big, small);
      const { text, met } = throughputSection(rows, hwm);
      console.log(`\n${text}\n`);
      verdicts.push(`throughput target (≥ ${THROUGHPUT_TARGET}× nginx in every scenario): ${met ? 'met' : 'MISSED'}`);
      sections.push(
        [
          '### Cache-hit blob throughput, EdgePier vs nginx',
          '',
          `The built CLI (\`node dist/cli/main.js serve\`, log level info) and nginx (${NGINX_WORKERS} worker, \`sendfile on\`) serve the same`,
          `cacache content file; wrk (1 thread) on loopback; ${ROUNDS} alternating rounds of ${SECONDS} s per scenario after a 1 s warm-up.`,
          'Throughput is bytes received / run time (headers included, negligible at these sizes).',
          '',
          text,
        ].join('\n'),
      );
    }
    if (!flags['skip-rss']) {
      console.log(`memory: writing a ${mib(LAYER_BYTES)} MiB random layer`);
      const layer = await writeRandomFile(join(workDir, 'blobs', 'layer'), LAYER_BYTES);
      upstream.add(layer);
      const runs: MemoryRun[] = [];
      const cache = join(workDir, 'cache-memory');
      runs.push(await measureMemory('cold: cut-through behind an unthrottled download', cache, upstream, layer, 0));
      console.log(runs.at(-1));
      runs.push(await measureMemory('cached (same cache, new process)', cache, upstream, layer, 0));
      console.log(runs.at(-1));
      await rm(cache, { recursive: true, force: true });
      runs.push(await measureMemory(`cold: upstream throttled to ${mib(THROTTLE)} MiB/s`, cache, upstream, layer, THROTTLE));
      console.log(runs.at(-1));
      await rm(cache, { recursive: true, force: true });
      const { text, met } = memorySection(runs);
      console.log(`\n${text}\n`);
      verdicts.push(`memory target (peak RSS ≤ 150 MB, correct bytes): ${met ? 'met' : 'MISSED'}`);
      sections.push(
        [
          `### Peak RSS serving a ${mib(LAYER_BYTES)} MiB layer to 8 clients at once`,
          '',
          'The built CLI as its own process; RSS from `/proc/<pid>/status` (VmRSS every 50 ms, VmHWM = the',
          'kernel-tracked peak since process start). Clients: one separate node process with 8 concurrent GETs,',
          'each body sha256-checked. Cold runs start from an empty cache; the upstream is a loopback node server',
          'reading the file from disk. MiB = 2^20 bytes; the target 150 MB = 143 MiB.',
          '',
          text,
        ].join('\n'),
      );
    }
    for (const verdict of verdicts) console.log(verdict);
    if (!flags['no-write'] && sections.length > 0) {
      const body = [
        `Run with \`${command}\` (builds \`dist/\`, then \`node --import tsx bench/serve.ts\`) on ${new Date().toISOString().slice(0, 10)}.`,
        '',
        await machine(),
        '',
        ...verdicts.map((verdict) => `- ${verdict}`),
        '',
        sections.join('\n\n'),
      ].join('\n');
      await writeBenchmarkSection(join(ROOT, 'BENCHMARKS.md'), '## Serving', body);
      console.log('wrote BENCHMARKS.md ## Serving');
    }
  } finally {
    await upstream.stop();
    await rm(workDir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
  process.exitCode = 1;
});
