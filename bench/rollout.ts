// Rollout benchmark (issues 4, 16): `npm run bench:rollout -- [--k 2,4,8] [--size-mb 200 | --size 100MiB]
// [--rate 50mbit] [--lan-rate 100mbit] [--delay-ms 20] [--layers 5] [--peer-mode proxy,redirect]
// [--fan-out 1,2,unbounded] [--kill-relay] [--site-key] [--section '## Rollout'] [--no-write]`.
// Needs root (network namespaces).
//
// A site in network namespaces (bridge, K nodes, a router) and a cloud namespace running a
// real docker-registry behind a WAN link shaped with tbf on both directions and a user-space
// delay proxy (no netem on these kernels). A test image of incompressible layers is built
// offline and pushed inside the cloud namespace. Then, in one run, side by side:
//   - one node alone, skopeo straight from the cloud;
//   - one node alone, skopeo through its own cold EdgePier (the only EdgePier on the site);
//   - for each K: K nodes at once straight from the cloud (baseline), then K nodes at once
//     each through its own EdgePier (fresh caches, full mDNS mesh before the start), once per
//     peer mode and swarm fan-out asked for;
//   - with --kill-relay, at the largest K: the same again, and a relay (a non-owner with
//     children in the biggest layer's tree) is SIGKILLed once it has received 40% of it.
// WAN bytes come from the cloud veth's counters, each node's upload from its own eth0 TX
// counter (what its LAN port carried); every pulled copy is checked by sha256.
// Writes the results into the `## Rollout` section of BENCHMARKS.md.
import { rm } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { netnsUnavailableReason } from '../test/support/netns.js';
import { startCloudRegistry, type CloudRegistry } from '../test/support/site-cloud-registry.js';
import { startSiteEdgePier, waitForMesh, type CachedBlob, type SiteEdgePier } from '../test/support/site-edgepier.js';
import { expectedImage, skopeoPullIn, verifyPulledDir, type ExpectedImage } from '../test/support/site-pull.js';
import { createWanSite, parseRate, type WanSite } from '../test/support/site-wan.js';
import { makeTempDir } from '../test/support/temp-dir.js';
import { buildImage, type ImageLayout } from '../test/support/test-image.js';
import { writeNewSiteKey } from '../site/site-key.js';
import { swarmPlace } from '../peer/swarm-tree.js';
import { parseFanOut, formatFanOut } from '../config/parse-fan-out.js';
import { parseCacheMaxSize } from '../config/parse-size.js';
import { benchCleanup, benchLog } from './bench-cleanup.js';
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
    /** The image's size with a unit (`100MiB`, `200MB`); overrides --size-mb. */
    size: { type: 'string' },
    rate: { type: 'string', default: '50mbit' },
    /** Every node's LAN port, each direction (`100mbit`); default unshaped. */
    'lan-rate': { type: 'string' },
    'delay-ms': { type: 'string', default: '20' },
    layers: { type: 'string', default: '5' },
    /** Peer modes to run every EdgePier scenario in, side by side. */
    'peer-mode': { type: 'string', default: 'proxy' },
    /** Swarm fan-outs to run every EdgePier scenario with (`unbounded` is owner-only), side by side. */
    'fan-out': { type: 'string', default: '1' },
    /** At the largest K, also kill a relay mid-transfer (first finite fan-out, first peer mode). */
    'kill-relay': { type: 'boolean', default: false },
    /** Which section of BENCHMARKS.md to write. */
    section: { type: 'string', default: '## Rollout' },
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
const SIZE_BYTES = flags.size === undefined ? Number(flags['size-mb']) * 1e6 : sizeInBytes(flags.size);
const LAYERS = Number(flags.layers);
const DELAY_MS = Number(flags['delay-ms']);
const RATE = flags.rate ?? '50mbit';
const LAN_RATE = flags['lan-rate'];
parseRate(RATE);
if (LAN_RATE !== undefined) parseRate(LAN_RATE);
if (!(SIZE_BYTES > 0) || !Number.isInteger(LAYERS) || LAYERS < 1 || !(DELAY_MS >= 0)) throw new Error('bad --size, --size-mb, --layers or --delay-ms');
const PEER_MODES = (flags['peer-mode'] ?? '').split(',').map((mode): 'proxy' | 'redirect' => {
  if (mode !== 'proxy' && mode !== 'redirect') throw new Error(`--peer-mode takes proxy and/or redirect, got ${mode}`);
  return mode;
});
const FAN_OUTS = (flags['fan-out'] ?? '').split(',').map((text) => {
  const parsed = parseFanOut(text);
  if (!parsed.ok) throw new Error(`--fan-out: ${parsed.errors.join('; ')}`);
  return parsed.value;
});
const SECTION = flags.section ?? '## Rollout';
if (!/^## \S/.test(SECTION)) throw new Error('--section must be a "## Heading"');
/** Share of the biggest layer a relay must have received before --kill-relay kills it. */
const KILL_AT = 0.4;

function sizeInBytes(text: string): number {
  const parsed = parseCacheMaxSize(text);
  if (!parsed.ok || parsed.value.kind !== 'bytes') throw new Error(`--size must be a size such as 100MiB, got ${text}`);
  return parsed.value.bytes;
}

/** How EdgePier runs in one scenario. */
export interface EdgePierSetup {
  readonly peerMode: 'proxy' | 'redirect';
  readonly fanOut: number;
  readonly siteKeyFile?: string;
  /** Kill a relay of the biggest layer once it has this share of it. */
  readonly killRelayAt?: number;
}

export interface Scenario {
  readonly name: string;
  readonly nodes: number;
  readonly via: 'direct' | 'edgepier';
  readonly setup?: EdgePierSetup;
  /** Per-node seconds from the common start to skopeo's exit (the killed node's is left out). */
  readonly times: readonly number[];
  readonly makespan: number;
  readonly wanToSite: number;
  readonly wanFromSite: number;
  /** Blob GETs the registry served during the scenario. */
  readonly blobGets: number;
  /** Blobs the registry served more than once. */
  readonly repeatedBlobs: number;
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
  /** Bytes each node's LAN port sent during the pulls (eth0 TX in its namespace). */
  readonly uploads: readonly number[];
  /** EdgePier only: seconds from the start to the first byte of the biggest layer, per node that got it from a peer. */
  readonly followerFirstByte?: readonly number[];
  /** --kill-relay: the node killed, and when (s after the start). */
  readonly killed?: { readonly nodeId: string; readonly at: number };
}

const cleanups = benchCleanup();
const log = benchLog('rollout');

export async function runScenario(
  name: string,
  wan: WanSite,
  cloud: CloudRegistry,
  image: ExpectedImage,
  workDir: string,
  nodes: number,
  via: 'direct' | 'edgepier',
  setup?: EdgePierSetup,
): Promise<Scenario> {
  const namespaces = wan.nodes.slice(0, nodes);
  const edgepiers: SiteEdgePier[] = [];
  const tag = name.replace(/[^a-z0-9]+/gi, '-').toLowerCase();
  const cacheDirs = namespaces.map((_, n) => join(workDir, `${tag}-cache${n}`));
  const pullDirs = namespaces.map((_, n) => join(workDir, `${tag}-pull${n}`));
  const biggest = biggestBlob(image);
  try {
    if (via === 'edgepier') {
      for (const [n, ns] of namespaces.entries()) {
        edgepiers.push(
          await startSiteEdgePier(ns, {
            nodeId: `${tag}-n${n}`,
            upstream: cloud.url,
            cacheDir: cacheDirs[n] ?? '',
            args: ['--log-level', 'info', '--peer-mode', setup?.peerMode ?? 'proxy', '--swarm-fan-out', formatFanOut(setup?.fanOut ?? 1)],
            ...(setup?.siteKeyFile ? { siteKeyFile: setup.siteKeyFile } : {}),
            ...(flags['cpu-prof'] ? { nodeArgs: ['--cpu-prof', '--cpu-prof-dir', join(flags['cpu-prof'], tag)] } : {}),
          }),
        );
      }
      await waitForMesh(edgepiers, 30_000);
    }
    const before = await wan.wanCounters();
    const uploadsBefore = await Promise.all(namespaces.map((_, n) => wan.nodeCounters(n)));
    const logStart = cloud.accessLog.length;
    const edgepierCpu = async (): Promise<number> => {
      const seconds = await Promise.all(edgepiers.map((node) => (node.process.pid ? processCpuSeconds(node.process.pid) : Promise.resolve(0))));
      return seconds.reduce((sum, value) => sum + value, 0);
    };
    const cpuBefore = await cpuTimes();
    const edgepierCpuBefore = await edgepierCpu();
    const startedAt = Date.now();
    const started = performance.now();
    const victim = setup?.killRelayAt !== undefined ? relayOf(biggest.digest, edgepiers, setup.fanOut) : undefined;
    const killing = victim ? killWhenReceived(wan, victim, biggest.bytes * (setup?.killRelayAt ?? 1), started) : undefined;
    const pulls = await Promise.all(
      namespaces.map((ns, n) =>
        skopeoPullIn(ns.name, via === 'edgepier' ? (edgepiers[n]?.localHost ?? '') : cloud.host, REFERENCE, pullDirs[n] ?? '', PULL_TIMEOUT_MS).catch(
          (error: unknown) => {
            // Only the node whose EdgePier was killed may fail its pull.
            if (victim && edgepiers[n] === victim.node) return undefined;
            throw error;
          },
        ),
      ),
    );
    const killed = await killing;
    const cpuAfter = await cpuTimes();
    const edgepierCpuAfter = await edgepierCpu();
    const after = await wan.wanCounters();
    const uploadsAfter = await Promise.all(namespaces.map((_, n) => wan.nodeCounters(n)));
    const done = pulls.filter((pull) => pull !== undefined);
    const times = done.map((pull) => (pull.endedAt - started) / 1000);
    for (const pull of done) await verifyPulledDir(pull.dir, image, 'sha256');
    let blobGets = 0;
    let repeatedBlobs = 0;
    for (const byClient of cloud.blobGets(logStart).values()) {
      let gets = 0;
      for (const count of byClient.values()) gets += count;
      blobGets += gets;
      if (gets > 1) repeatedBlobs += 1;
    }
    const scenario: Scenario = {
      name,
      nodes,
      via,
      ...(setup ? { setup } : {}),
      times,
      makespan: Math.max(...times),
      wanToSite: after.toSite - before.toSite,
      wanFromSite: after.fromSite - before.fromSite,
      blobGets,
      repeatedBlobs,
      cpu: (cpuAfter.busy - cpuBefore.busy) / Math.max(1, cpuAfter.total - cpuBefore.total),
      cpuSeconds: (cpuAfter.busy - cpuBefore.busy) / 100,
      load: loadavg()[0] ?? 0,
      uploads: uploadsAfter.map((counters, n) => counters.sent - (uploadsBefore[n]?.sent ?? 0)),
      ...(via === 'edgepier'
        ? {
            sources: describeSources(edgepiers.map((node) => node.cached)),
            edgepierCpu: edgepierCpuAfter - edgepierCpuBefore,
            followerFirstByte: followerFirstBytes(edgepiers, biggest.digest, startedAt),
          }
        : {}),
      ...(killed ? { killed } : {}),
    };
    log(
      `${name}: makespan ${scenario.makespan.toFixed(1)} s, nodes ${times.map((t) => t.toFixed(1)).join(' ')} s, WAN ${mb(scenario.wanToSite)} MB, ` +
        `${blobGets} blob GETs (${repeatedBlobs} blobs more than once), upload max ${mb(Math.max(...scenario.uploads))} MB mean ${mb(mean(scenario.uploads))} MB, ` +
        `CPU ${(scenario.cpu * 100).toFixed(0)}% (${scenario.cpuSeconds.toFixed(0)} s` +
        `${scenario.edgepierCpu !== undefined ? `, EdgePier processes ${scenario.edgepierCpu.toFixed(1)} s` : ''})${scenario.sources ? `, ${scenario.sources}` : ''}` +
        `${scenario.followerFirstByte?.length ? `, follower first byte max ${Math.max(...scenario.followerFirstByte).toFixed(2)} s` : ''}` +
        `${killed ? `, killed ${killed.nodeId} at ${killed.at.toFixed(1)} s` : ''}`,
    );
    if (flags.verbose === true) printTimeline(edgepiers, startedAt);
    return scenario;
  } finally {
    await Promise.all(edgepiers.map((node) => node.stop()));
    await Promise.all([...cacheDirs, ...pullDirs].map((dir) => rm(dir, { recursive: true, force: true })));
  }
}

/** The image's biggest blob: the layer whose tree the swarm figures are about. */
export function biggestBlob(image: ExpectedImage): { digest: string; bytes: number } {
  let best = { digest: '', bytes: -1 };
  for (const [digest, bytes] of image.blobs) if (bytes.length > best.bytes) best = { digest, bytes: bytes.length };
  return best;
}

/** A relay of `digest`: a non-owner with children in its tree (the second-ranked node). */
function relayOf(digest: string, nodes: readonly SiteEdgePier[], fanOut: number): { node: SiteEdgePier; index: number } {
  const ids = nodes.map((node) => node.nodeId);
  const places = ids.map((id) => swarmPlace(digest, id, ids, fanOut));
  const index = places.findIndex((place) => place.position === 1);
  const children = places.filter((place) => place.ancestors[0] === ids[index]).length;
  const node = nodes[index];
  if (!node || children === 0) throw new Error(`--kill-relay: no relay with children at fan-out ${formatFanOut(fanOut)} and K=${nodes.length}`);
  return { node, index };
}

/** SIGKILLs the relay once its LAN port has received `bytes` (it is then mid-transfer). */
async function killWhenReceived(wan: WanSite, victim: { node: SiteEdgePier; index: number }, bytes: number, started: number): Promise<{ nodeId: string; at: number }> {
  const base = (await wan.nodeCounters(victim.index)).received;
  // Polled with `ip` (a process per look), so not too often on a 2-core machine.
  const deadline = Date.now() + PULL_TIMEOUT_MS;
  while ((await wan.nodeCounters(victim.index)).received - base < bytes) {
    if (Date.now() > deadline || victim.node.process.hasExited) throw new Error(`${victim.node.nodeId} never received ${mb(bytes)} MB`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const pid = victim.node.process.pid;
  if (pid === undefined) throw new Error('the relay has no pid');
  process.kill(pid, 'SIGKILL');
  log(`killed relay ${victim.node.nodeId} (pid ${pid}) with SIGKILL`);
  return { nodeId: victim.node.nodeId, at: (performance.now() - started) / 1000 };
}

/** Per node that got the biggest layer from a peer: seconds from the start to its first byte. */
function followerFirstBytes(nodes: readonly SiteEdgePier[], digest: string, startedAt: number): number[] {
  const seconds: number[] = [];
  for (const node of nodes) {
    const blob = node.cached.find((cached) => cached.digest === digest);
    if (!blob || blob.firstByteMs === undefined || !blob.source.startsWith('peer')) continue;
    seconds.push((blob.at - blob.ms + blob.firstByteMs - startedAt) / 1000);
  }
  return seconds;
}

export function mean(values: readonly number[]): number {
  return values.length === 0 ? 0 : values.reduce((sum, value) => sum + value, 0) / values.length;
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

function setupName(setup: EdgePierSetup): string {
  return `${setup.peerMode}, fan-out ${formatFanOut(setup.fanOut)}${setup.siteKeyFile ? ', site key' : ''}${setup.killRelayAt !== undefined ? ', relay killed' : ''}`;
}

async function main(): Promise<void> {
  const unavailable = netnsUnavailableReason();
  if (unavailable) throw new Error(`the rollout benchmark needs network namespaces: ${unavailable}`);
  const maxK = Math.max(...KS);
  const layerSize = Math.round(SIZE_BYTES / LAYERS);
  log(`building a ${LAYERS}-layer image of ~${mb(SIZE_BYTES)} MB (incompressible)`);
  const layout: ImageLayout = await buildImage({ layers: LAYERS, layerSize, seed: `rollout-${SIZE_BYTES}-${LAYERS}` });
  cleanups.add(() => layout.cleanup());
  const image = expectedImage(layout);
  const layer = biggestBlob(image).bytes;
  log(`image ${mb(layout.totalBytes)} MB, ${layout.blobs.size} blobs; building a site of ${maxK} nodes, WAN ${RATE} each way, +${DELAY_MS} ms each way, LAN ${LAN_RATE ?? 'unshaped'}`);
  const wan = await createWanSite({ nodes: maxK, rate: RATE, ...(LAN_RATE !== undefined ? { lanRate: LAN_RATE } : {}) });
  cleanups.add(() => wan.destroy());
  const cloud = await startCloudRegistry(wan, { delayMs: DELAY_MS });
  cleanups.add(() => cloud.stop());
  await cloud.push(layout, REFERENCE, 10 * 60_000);
  const work = await makeTempDir('rollout');
  cleanups.add(() => work.remove());

  const siteKeyFile = join(work.path, 'site.key');
  if (flags['site-key'] === true) await writeNewSiteKey(siteKeyFile);
  const setups = PEER_MODES.flatMap((peerMode) =>
    FAN_OUTS.flatMap((fanOut): EdgePierSetup[] => [{ peerMode, fanOut }, ...(flags['site-key'] === true ? [{ peerMode, fanOut, siteKeyFile }] : [])]),
  );
  const singleDirect = await runScenario('1 node, direct', wan, cloud, image, work.path, 1, 'direct');
  const singleCold = await runScenario('1 node, EdgePier cold', wan, cloud, image, work.path, 1, 'edgepier', setups[0]);
  const rows: { k: number; baseline: Scenario; runs: Scenario[] }[] = [];
  for (const k of KS) {
    const baseline = flags['skip-direct-k'] === true ? singleDirect : await runScenario(`K=${k}, direct`, wan, cloud, image, work.path, k, 'direct');
    const runs: Scenario[] = [];
    for (const setup of setups) runs.push(await runScenario(`K=${k}, EdgePier ${setupName(setup)}`, wan, cloud, image, work.path, k, 'edgepier', setup));
    const killable = FAN_OUTS.find((fanOut) => fanOut !== Infinity);
    if (flags['kill-relay'] === true && k === maxK && killable !== undefined) {
      const setup: EdgePierSetup = { peerMode: PEER_MODES[0] ?? 'proxy', fanOut: killable, killRelayAt: KILL_AT };
      runs.push(await runScenario(`K=${k}, EdgePier ${setupName(setup)}`, wan, cloud, image, work.path, k, 'edgepier', setup));
    }
    rows.push({ k, baseline, runs });
  }

  const size = layout.totalBytes;
  const direct = singleDirect.makespan;
  const all = [singleDirect, singleCold, ...rows.flatMap((row) => [...(row.baseline === singleDirect ? [] : [row.baseline]), ...row.runs])];
  const scenarioRows = all.map((s) => [
    s.name,
    s.makespan.toFixed(1),
    s.times.map((t) => t.toFixed(1)).join(' '),
    mb(s.wanToSite),
    ratio(s.wanToSite, size),
    `${s.blobGets}${s.repeatedBlobs > 0 ? ` (${s.repeatedBlobs} twice+)` : ''}`,
    ratio(s.makespan, direct),
    `${ratio(Math.max(...s.uploads), layer)} / ${ratio(mean(s.uploads), layer)}`,
    s.followerFirstByte && s.followerFirstByte.length > 0 ? `${Math.max(...s.followerFirstByte).toFixed(2)} / ${mean(s.followerFirstByte).toFixed(2)}` : '–',
    `${(s.cpu * 100).toFixed(0)}% (${s.cpuSeconds.toFixed(0)} s)`,
    s.edgepierCpu === undefined ? '–' : s.edgepierCpu.toFixed(1),
    s.load.toFixed(1),
  ]);
  const summaryRows = rows.flatMap(({ k, baseline, runs }) =>
    runs.map((run) => [
      String(k),
      run.setup ? setupName(run.setup) : '',
      verdict(run.wanToSite / size, k === maxK ? TARGETS.wan : Infinity),
      verdict(run.makespan / direct, k === maxK ? TARGETS.makespan : Infinity),
      ratio(Math.max(...run.uploads), layer),
      ratio(baseline.makespan, direct),
      ratio(baseline.makespan, run.makespan),
    ]),
  );
  const killRows = rows.flatMap(({ runs }) =>
    runs.flatMap((run) => {
      if (!run.killed || !run.setup) return [];
      const calm = runs.find((other) => other.setup && !other.killed && other.setup.peerMode === run.setup?.peerMode && other.setup.fanOut === run.setup.fanOut && !other.setup.siteKeyFile);
      return [[run.name, run.killed.nodeId, run.killed.at.toFixed(1), String(run.times.length), run.makespan.toFixed(1), calm ? calm.makespan.toFixed(1) : '–', calm ? (run.makespan - calm.makespan).toFixed(1) : '–', ratio(run.wanToSite, size)]];
    }),
  );
  const killReport =
    killRows.length === 0
      ? []
      : [
          '',
          `A relay killed mid-transfer (SIGKILL once its LAN port received ${KILL_AT * 100}% of the biggest layer); the other nodes' pulls, all verified by sha256:`,
          '',
          table(['scenario', 'killed', 'at s', 'pulls that completed', 'makespan s', 'same run without the kill s', 'extra s', 'WAN ÷ image'], killRows),
        ];
  const command =
    `npm run bench:rollout -- --k ${KS.join(',')} --size ${SIZE_BYTES} --rate ${RATE} --delay-ms ${DELAY_MS} --layers ${LAYERS}` +
    `${LAN_RATE !== undefined ? ` --lan-rate ${LAN_RATE}` : ''} --peer-mode ${PEER_MODES.join(',')} --fan-out ${FAN_OUTS.map(formatFanOut).join(',')}` +
    `${flags['kill-relay'] === true ? ' --kill-relay' : ''}${flags['site-key'] === true ? ' --site-key' : ''}${flags['skip-direct-k'] === true ? ' --skip-direct-k' : ''}` +
    `${SECTION !== '## Rollout' ? ` --section '${SECTION}'` : ''}`;
  const report = [
    `Measured ${new Date().toISOString().slice(0, 10)} by \`bench/rollout.ts\`. Command (as root): \`${command}\``,
    '',
    await machine(),
    '',
    `Site: ${maxK} node namespaces on a bridge (each node's port ${LAN_RATE ? `shaped with tbf at ${LAN_RATE} each way` : 'unshaped'}), a router namespace, a cloud namespace with docker-registry behind`,
    `a WAN veth shaped with tbf at ${RATE} on **both** directions, plus ${DELAY_MS} ms one-way delay in each direction from a`,
    'user-space TCP delay proxy in the cloud namespace (the kernel has no netem). Image: ' +
      `${LAYERS} layer(s) of seeded random bytes (incompressible), ${mb(size)} MB with config and manifest, biggest layer ${mb(layer)} MB. Client: skopeo copy to`,
    "`dir:` in each node's namespace, all K started at the same moment. EdgePier: the real CLI (mDNS on, no static peers), fresh",
    'cache per scenario, full mesh awaited before the start. WAN bytes: TX bytes of the cloud end of the WAN veth (IP headers',
    "included) over the scenario. Upload: each node's eth0 TX bytes in its own namespace over the scenario (everything its LAN",
    'port sent: layers to peers or redirected runtimes, plus requests and mDNS), max / mean over the nodes, ÷ the biggest layer.',
    'First byte: seconds from the start until a node that got the biggest layer from a peer had its first byte (from the',
    "node's `blob cached` log line), max / mean over those nodes. Every pulled copy verified by sha256.",
    '',
    table(
      ['scenario', 'makespan s', 'per-node s', 'WAN MB', 'WAN ÷ image', 'cloud blob GETs', 'makespan ÷ 1-node direct', 'upload max / mean ÷ layer', 'follower first byte max / mean s', 'CPU busy, all cores', 'EdgePier CPU s', 'load avg (1 min) at end'],
      scenarioRows,
    ),
    '',
    'EdgePier blob sources (from the nodes\' `blob cached` log lines):',
    '',
    ...[singleCold, ...rows.flatMap((row) => row.runs)].map((s) => `- ${s.name}: ${s.sources ?? ''}`),
    '',
    `Targets (K=${maxK}): WAN ≤ ${TARGETS.wan}× image, makespan ≤ ${TARGETS.makespan}× one node direct, one node cold through EdgePier ≤ ${TARGETS.cold}× direct.`,
    '',
    table(['K', 'EdgePier setup', 'EdgePier WAN ÷ image', 'EdgePier makespan ÷ 1-node direct', 'max upload ÷ layer', 'direct makespan ÷ 1-node direct', 'speed-up vs direct'], summaryRows),
    '',
    `One node cold through EdgePier ÷ direct: ${verdict(singleCold.makespan / direct, TARGETS.cold)} (${singleCold.makespan.toFixed(1)} s vs ${direct.toFixed(1)} s).`,
    ...killReport,
  ].join('\n');
  console.log(`\n${report}\n`);
  if (flags['no-write'] !== true) {
    await writeBenchmarkSection(join(ROOT, 'BENCHMARKS.md'), SECTION as `## ${string}`, report);
    log(`wrote the ${SECTION} section of BENCHMARKS.md`);
  }
}

// Run only as a script: bench/rollout-faults.ts imports the helpers above.
if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main()
    .catch((error: unknown) => {
      console.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
      process.exitCode = 1;
    })
    .finally(() => cleanups.run());
}
