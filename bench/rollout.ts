// Rollout benchmark (issue 4): `npm run bench:rollout -- [--k 2,4,8] [--size-mb 200]
// [--rate 50mbit] [--delay-ms 20] [--layers 5] [--site-key] [--no-write]`. Needs root (network namespaces).
//
// A site in network namespaces (bridge, K nodes, a router) and a cloud namespace running a
// real docker-registry behind a WAN link shaped with tbf on both directions and a user-space
// delay proxy (no netem on these kernels). A test image of incompressible layers is built
// offline and pushed inside the cloud namespace. Then, in one run, side by side:
//   - one node alone, skopeo straight from the cloud;
//   - one node alone, skopeo through its own cold EdgePier (the only EdgePier on the site);
//   - for each K: K nodes at once straight from the cloud (baseline), then K nodes at once
//     each through its own EdgePier (fresh caches, full mDNS mesh before the start).
// WAN bytes come from the cloud veth's counters; every pulled copy is checked by sha256.
// Writes the results into the `## Rollout` section of BENCHMARKS.md.
import { rm } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { netnsUnavailableReason } from '../test/support/netns.js';
import { startCloudRegistry, type CloudRegistry } from '../test/support/site-cloud-registry.js';
import { startSiteEdgePier, waitForMesh, type CachedBlob, type SiteEdgePier } from '../test/support/site-edgepier.js';
import { expectedImage, skopeoPullIn, verifyPulledDir, type ExpectedImage } from '../test/support/site-pull.js';
import { createWanSite, parseRate, type WanSite } from '../test/support/site-wan.js';
import { makeTempDir } from '../test/support/temp-dir.js';
import { buildImage, type ImageLayout } from '../test/support/test-image.js';
import { writeNewSiteKey } from '../site/site-key.js';
import { writeBenchmarkSection, table } from './benchmarks-file.js';
import { machine } from './machine-info.js';
import { cpuTimes, processCpuSeconds } from './rollout-report.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const REFERENCE = 'bench/rollout:v1';
const PULL_TIMEOUT_MS = 30 * 60_000;
const TARGETS = { wan: 1.05, makespan: 1.25, cold: 1.05 };

const { values: flags } = parseArgs({
  options: {
    k: { type: 'string', default: '2,4,8' },
    'size-mb': { type: 'string', default: '200' },
    rate: { type: 'string', default: '50mbit' },
    'delay-ms': { type: 'string', default: '20' },
    layers: { type: 'string', default: '5' },
    'no-write': { type: 'boolean', default: false },
    /** Prints every EdgePier node's blob timeline (start, commit, source) per scenario. */
    verbose: { type: 'boolean', default: false },
    /** Skips the K-node direct baselines (for quick EdgePier-only investigation runs). */
    'skip-direct-k': { type: 'boolean', default: false },
    /** Writes a V8 CPU profile of every EdgePier process into this directory. */
    'cpu-prof': { type: 'string' },
    /** Also runs every EdgePier scenario with a site key (TLS-PSK between members), side by side. */
    'site-key': { type: 'boolean', default: false },
  },
});
const KS = (flags.k ?? '').split(',').map(Number);
if (KS.length === 0 || KS.some((k) => !Number.isInteger(k) || k < 1 || k > 50)) throw new Error('--k must be a list of integers 1..50');
const SIZE_MB = Number(flags['size-mb']);
const LAYERS = Number(flags.layers);
const DELAY_MS = Number(flags['delay-ms']);
const RATE = flags.rate ?? '50mbit';
parseRate(RATE);
if (!(SIZE_MB > 0) || !Number.isInteger(LAYERS) || LAYERS < 1 || !(DELAY_MS >= 0)) throw new Error('bad --size-mb, --layers or --delay-ms');

interface Scenario {
  readonly name: string;
  readonly nodes: number;
  readonly via: 'direct' | 'edgepier';
  /** Per-node seconds from the common start to skopeo's exit. */
  readonly times: readonly number[];
  readonly makespan: number;
  readonly wanToSite: number;
  readonly wanFromSite: number;
  /** Blob GETs the registry served during the scenario. */
  readonly blobGets: number;
  /** Average utilisation of all CPUs during the pulls (0..1). */
  readonly cpu: number;
  /** EdgePier only: where each node's blobs came from, and the slowest blob per node. */
  readonly sources?: string;
  /** EdgePier only: CPU seconds used by all EdgePier processes during the pulls. */
  readonly edgepierCpu?: number;
  /** CPU seconds of all cores during the pulls. */
  readonly cpuSeconds: number;
  /** 1-minute load average when the pulls ended (the machine may be shared). */
  readonly load: number;
}

const cleanups: (() => Promise<unknown>)[] = [];
let cleaning: Promise<void> | undefined;
function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    for (const step of cleanups.reverse()) await step().catch((error: unknown) => console.error(`cleanup: ${String(error)}`));
  })();
  return cleaning;
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    console.error(`\n${signal}: cleaning up`);
    void cleanup().finally(() => process.exit(130));
  });
}

function log(message: string): void {
  console.log(`[rollout ${new Date().toISOString().slice(11, 19)}] ${message}`);
}

async function runScenario(
  name: string,
  wan: WanSite,
  cloud: CloudRegistry,
  image: ExpectedImage,
  workDir: string,
  nodes: number,
  via: 'direct' | 'edgepier',
  siteKeyFile?: string,
): Promise<Scenario> {
  const namespaces = wan.nodes.slice(0, nodes);
  const edgepiers: SiteEdgePier[] = [];
  const tag = name.replace(/[^a-z0-9]+/gi, '-').toLowerCase();
  const cacheDirs = namespaces.map((_, n) => join(workDir, `${tag}-cache${n}`));
  const pullDirs = namespaces.map((_, n) => join(workDir, `${tag}-pull${n}`));
  try {
    if (via === 'edgepier') {
      for (const [n, ns] of namespaces.entries()) {
        edgepiers.push(
          await startSiteEdgePier(ns, {
            nodeId: `${tag}-n${n}`,
            upstream: cloud.url,
            cacheDir: cacheDirs[n] ?? '',
            args: ['--log-level', 'info'],
            ...(siteKeyFile ? { siteKeyFile } : {}),
            ...(flags['cpu-prof'] ? { nodeArgs: ['--cpu-prof', '--cpu-prof-dir', join(flags['cpu-prof'], tag)] } : {}),
          }),
        );
      }
      await waitForMesh(edgepiers, 30_000);
    }
    const before = await wan.wanCounters();
    const logStart = cloud.accessLog.length;
    const edgepierCpu = async (): Promise<number> => {
      const seconds = await Promise.all(edgepiers.map((node) => (node.process.pid ? processCpuSeconds(node.process.pid) : Promise.resolve(0))));
      return seconds.reduce((sum, value) => sum + value, 0);
    };
    const cpuBefore = await cpuTimes();
    const edgepierCpuBefore = await edgepierCpu();
    const started = performance.now();
    const pulls = await Promise.all(
      namespaces.map((ns, n) => skopeoPullIn(ns.name, via === 'edgepier' ? (edgepiers[n]?.localHost ?? '') : cloud.host, REFERENCE, pullDirs[n] ?? '', PULL_TIMEOUT_MS)),
    );
    const cpuAfter = await cpuTimes();
    const edgepierCpuAfter = await edgepierCpu();
    const after = await wan.wanCounters();
    const times = pulls.map((pull) => (pull.endedAt - started) / 1000);
    for (const pull of pulls) await verifyPulledDir(pull.dir, image, 'sha256');
    let blobGets = 0;
    for (const byClient of cloud.blobGets(logStart).values()) for (const count of byClient.values()) blobGets += count;
    const scenario: Scenario = {
      name,
      nodes,
      via,
      times,
      makespan: Math.max(...times),
      wanToSite: after.toSite - before.toSite,
      wanFromSite: after.fromSite - before.fromSite,
      blobGets,
      cpu: (cpuAfter.busy - cpuBefore.busy) / Math.max(1, cpuAfter.total - cpuBefore.total),
      cpuSeconds: (cpuAfter.busy - cpuBefore.busy) / 100,
      load: loadavg()[0] ?? 0,
      ...(via === 'edgepier' ? { sources: describeSources(edgepiers.map((node) => node.cached)), edgepierCpu: edgepierCpuAfter - edgepierCpuBefore } : {}),
    };
    log(
      `${name}: makespan ${scenario.makespan.toFixed(1)} s, nodes ${times.map((s) => s.toFixed(1)).join(' ')} s, WAN ${mb(scenario.wanToSite)} MB, ` +
        `${blobGets} blob GETs, CPU ${(scenario.cpu * 100).toFixed(0)}% (${scenario.cpuSeconds.toFixed(0)} s` +
        `${scenario.edgepierCpu !== undefined ? `, EdgePier processes ${scenario.edgepierCpu.toFixed(1)} s` : ''})${scenario.sources ? `, ${scenario.sources}` : ''}`,
    );
    if (flags.verbose === true) printTimeline(edgepiers, Date.now() - (performance.now() - started));
    return scenario;
  } finally {
    await Promise.all(edgepiers.map((node) => node.stop()));
    await Promise.all([...cacheDirs, ...pullDirs].map((dir) => rm(dir, { recursive: true, force: true })));
  }
}

/** "upstream 5, peer 30" plus the slowest blob download seen on any node. */
function describeSources(perNode: readonly (readonly CachedBlob[])[]): string {
  const counts = new Map<string, number>();
  let slowest = 0;
  for (const blobs of perNode) {
    for (const blob of blobs) {
      const kind = blob.source.startsWith('peer') ? 'peer' : blob.source;
      counts.set(kind, (counts.get(kind) ?? 0) + 1);
      slowest = Math.max(slowest, blob.ms);
    }
  }
  return `blobs from ${[...counts].map(([kind, count]) => `${kind} ${count}`).join(', ')}; slowest blob ${(slowest / 1000).toFixed(1)} s`;
}

/** Per blob: when each node started and committed it (s since the pulls started), and from where. */
function printTimeline(nodes: readonly SiteEdgePier[], startedAt: number): void {
  const byDigest = new Map<string, string[]>();
  for (const node of nodes) {
    for (const blob of node.cached) {
      const line = `${node.nodeId.slice(-3)} ${((blob.at - blob.ms - startedAt) / 1000).toFixed(2)}→${((blob.at - startedAt) / 1000).toFixed(2)} ${blob.source}`;
      byDigest.set(blob.digest, [...(byDigest.get(blob.digest) ?? []), line]);
    }
  }
  for (const [digest, lines] of byDigest) console.log(`  ${digest.slice(7, 19)} ${lines.sort((a, b) => a.localeCompare(b)).join(' | ')}`);
}

function mb(bytes: number): string {
  return (bytes / 1e6).toFixed(1);
}

function ratio(value: number, base: number): string {
  return (value / base).toFixed(2);
}

function verdict(value: number, target: number): string {
  return value <= target ? `${value.toFixed(2)} ✓` : `${value.toFixed(2)} ✗`;
}

async function main(): Promise<void> {
  const unavailable = netnsUnavailableReason();
  if (unavailable) throw new Error(`the rollout benchmark needs network namespaces: ${unavailable}`);
  const maxK = Math.max(...KS);
  const layerSize = Math.round((SIZE_MB * 1e6) / LAYERS);
  log(`building a ${LAYERS}-layer image of ~${SIZE_MB} MB (incompressible)`);
  const layout: ImageLayout = await buildImage({ layers: LAYERS, layerSize, seed: `rollout-${SIZE_MB}-${LAYERS}` });
  cleanups.push(() => layout.cleanup());
  const image = expectedImage(layout);
  log(`image ${mb(layout.totalBytes)} MB, ${layout.blobs.size} blobs; building a site of ${maxK} nodes, WAN ${RATE} each way, +${DELAY_MS} ms each way`);
  const wan = await createWanSite({ nodes: maxK, rate: RATE });
  cleanups.push(() => wan.destroy());
  const cloud = await startCloudRegistry(wan, { delayMs: DELAY_MS });
  cleanups.push(() => cloud.stop());
  await cloud.push(layout, REFERENCE, 10 * 60_000);
  const work = await makeTempDir('rollout');
  cleanups.push(() => work.remove());

  const singleDirect = await runScenario('1 node, direct', wan, cloud, image, work.path, 1, 'direct');
  const singleCold = await runScenario('1 node, EdgePier cold', wan, cloud, image, work.path, 1, 'edgepier');
  const siteKeyFile = join(work.path, 'site.key');
  if (flags['site-key'] === true) await writeNewSiteKey(siteKeyFile);
  const rows: { k: number; baseline: Scenario; edgepier: Scenario; keyed?: Scenario }[] = [];
  for (const k of KS) {
    const baseline = flags['skip-direct-k'] === true ? singleDirect : await runScenario(`K=${k}, direct`, wan, cloud, image, work.path, k, 'direct');
    const edgepier = await runScenario(`K=${k}, EdgePier`, wan, cloud, image, work.path, k, 'edgepier');
    const keyed = flags['site-key'] === true ? await runScenario(`K=${k}, EdgePier, site key`, wan, cloud, image, work.path, k, 'edgepier', siteKeyFile) : undefined;
    rows.push({ k, baseline, edgepier, ...(keyed ? { keyed } : {}) });
  }

  const size = layout.totalBytes;
  const direct = singleDirect.makespan;
  const scenarioRows = [singleDirect, singleCold, ...rows.flatMap((row) => [row.baseline, row.edgepier, ...(row.keyed ? [row.keyed] : [])])].map((s) => [
    s.name,
    s.makespan.toFixed(1),
    s.times.map((t) => t.toFixed(1)).join(' '),
    mb(s.wanToSite),
    ratio(s.wanToSite, size),
    String(s.blobGets),
    ratio(s.makespan, direct),
    `${(s.cpu * 100).toFixed(0)}% (${s.cpuSeconds.toFixed(0)} s)`,
    s.edgepierCpu === undefined ? '–' : s.edgepierCpu.toFixed(1),
    s.load.toFixed(1),
  ]);
  const summaryRows = rows.map(({ k, baseline, edgepier }) => [
    String(k),
    verdict(edgepier.wanToSite / size, k === maxK ? TARGETS.wan : Infinity),
    ratio(baseline.wanToSite, size),
    verdict(edgepier.makespan / direct, k === maxK ? TARGETS.makespan : Infinity),
    ratio(baseline.makespan, direct),
    ratio(baseline.makespan, edgepier.makespan),
  ]);
  const keyedRows = rows.flatMap(({ k, edgepier, keyed }) =>
    keyed
      ? [[String(k), edgepier.makespan.toFixed(1), keyed.makespan.toFixed(1), ratio(keyed.makespan, edgepier.makespan), (edgepier.edgepierCpu ?? 0).toFixed(1), (keyed.edgepierCpu ?? 0).toFixed(1), ratio(keyed.edgepierCpu ?? 0, edgepier.edgepierCpu ?? 1), ratio(keyed.wanToSite, size)]]
      : [],
  );
  const keyedReport =
    keyedRows.length === 0
      ? []
      : [
          '',
          'Site key on (TLS-PSK, ECDHE-PSK-CHACHA20-POLY1305, between members) beside the open site, same run:',
          '',
          table(['K', 'open makespan s', 'keyed makespan s', 'keyed ÷ open', 'open EdgePier CPU s', 'keyed EdgePier CPU s', 'keyed ÷ open CPU', 'keyed WAN ÷ image'], keyedRows),
        ];
  const command = `npm run bench:rollout -- --k ${KS.join(',')} --size-mb ${SIZE_MB} --rate ${RATE} --delay-ms ${DELAY_MS} --layers ${LAYERS}${flags['site-key'] === true ? ' --site-key' : ''}`;
  const report = [
    `Measured ${new Date().toISOString().slice(0, 10)} by \`bench/rollout.ts\`. Command (as root): \`${command}\``,
    '',
    await machine(),
    '',
    `Site: ${maxK} node namespaces on a bridge, a router namespace, a cloud namespace with docker-registry behind`,
    `a WAN veth shaped with tbf at ${RATE} on **both** directions, plus ${DELAY_MS} ms one-way delay in each direction from a`,
    'user-space TCP delay proxy in the cloud namespace (the kernel has no netem). Image: ' +
      `${LAYERS} layers of seeded random bytes (incompressible), ${mb(size)} MB with config and manifest. Client: skopeo copy to`,
    "`dir:` in each node's namespace, all K started at the same moment. EdgePier: the real CLI (mDNS on, no static peers), fresh",
    'cache per scenario, full mesh awaited before the start. WAN bytes: TX bytes of the cloud end of the WAN veth (IP headers',
    'included) over the scenario. Every pulled copy verified by sha256.',
    '',
    table(['scenario', 'makespan s', 'per-node s', 'WAN MB', 'WAN ÷ image', 'cloud blob GETs', 'makespan ÷ 1-node direct', 'CPU busy, all cores', 'EdgePier CPU s', 'load avg (1 min) at end'], scenarioRows),
    '',
    'EdgePier blob sources (from the nodes\' `blob cached` log lines):',
    '',
    ...[singleCold, ...rows.map((row) => row.edgepier)].map((s) => `- ${s.name}: ${s.sources ?? ''}`),
    '',
    `Targets (K=${maxK}): WAN ≤ ${TARGETS.wan}× image, makespan ≤ ${TARGETS.makespan}× one node direct, one node cold through EdgePier ≤ ${TARGETS.cold}× direct.`,
    '',
    table(['K', 'EdgePier WAN ÷ image', 'direct WAN ÷ image', 'EdgePier makespan ÷ 1-node direct', 'direct makespan ÷ 1-node direct', 'speed-up vs direct'], summaryRows),
    '',
    `One node cold through EdgePier ÷ direct: ${verdict(singleCold.makespan / direct, TARGETS.cold)} (${singleCold.makespan.toFixed(1)} s vs ${direct.toFixed(1)} s).`,
    ...keyedReport,
  ].join('\n');
  console.log(`\n${report}\n`);
  if (flags['no-write'] !== true) {
    await writeBenchmarkSection(join(ROOT, 'BENCHMARKS.md'), '## Rollout', report);
    log('wrote the ## Rollout section of BENCHMARKS.md');
  }
}

main()
  .catch((error: unknown) => {
    console.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
    process.exitCode = 1;
  })
  .finally(() => cleanup());
