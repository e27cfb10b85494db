// Faults during a rollout (issue 15): `npm run bench:rollout-faults -- [--k 4] [--size-mb 200]
// [--layers 5] [--rate 50mbit] [--delay-ms 20] [--cut-s 10] [--faults a,b] [--no-write]`. Needs root.
//
// The site of bench/rollout.ts (K node namespaces, a router, a cloud namespace with a real
// docker-registry behind a tbf-shaped WAN plus a user-space delay proxy), and in one run, side
// by side: a clean K-node rollout through EdgePier, then the same rollout with one fault each
// (test/support/site-fault-rollout.ts): the target layer's serving node SIGKILLed mid-transfer
// and started again on its cache; the WAN link down for --cut-s mid-layer; a node restarted
// (SIGTERM) on its cache mid-rollout; the serving node's disk filled to ENOSPC mid-layer; then
// the clean rollout again, so the table shows how much the machine's noise moves a clean run.
// Every pulled file is checked against its digest. Writes `## Rollout faults` in BENCHMARKS.md.
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { netnsUnavailableReason } from '../test/support/netns.js';
import { startCloudRegistry } from '../test/support/site-cloud-registry.js';
import { FAULTS, runFaultRollout, type Fault, type FaultRolloutResult } from '../test/support/site-fault-rollout.js';
import { expectedImage } from '../test/support/site-pull.js';
import { createWanSite, parseRate } from '../test/support/site-wan.js';
import { makeTempDir } from '../test/support/temp-dir.js';
import { buildImage } from '../test/support/test-image.js';
import { benchCleanup, benchLog } from './bench-cleanup.js';
import { table, writeBenchmarkSection } from './benchmarks-file.js';
import { machine } from './machine-info.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const REFERENCE = 'bench/rollout-faults:v1';
const PULL_TIMEOUT_MS = 20 * 60_000;

const { values: flags } = parseArgs({
  options: {
    k: { type: 'string', default: '4' },
    'size-mb': { type: 'string', default: '200' },
    layers: { type: 'string', default: '5' },
    rate: { type: 'string', default: '50mbit' },
    'delay-ms': { type: 'string', default: '20' },
    'cut-s': { type: 'string', default: '10' },
    /** Fraction of the target layer that has moved when the fault strikes. */
    'strike-at': { type: 'string', default: '0.25' },
    faults: { type: 'string', default: FAULTS.join(',') },
    'no-write': { type: 'boolean', default: false },
    /** Prints every node's warn-or-worse log lines after each run. */
    verbose: { type: 'boolean', default: false },
  },
});
const K = Number(flags.k);
const SIZE_MB = Number(flags['size-mb']);
const LAYERS = Number(flags.layers);
const DELAY_MS = Number(flags['delay-ms']);
const CUT_S = Number(flags['cut-s']);
const STRIKE_AT = Number(flags['strike-at']);
const RATE = flags.rate ?? '50mbit';
parseRate(RATE);
const SELECTED = (flags.faults ?? '').split(',').filter(Boolean);
for (const fault of SELECTED) if (!(FAULTS as readonly string[]).includes(fault)) throw new Error(`--faults: unknown ${fault} (known: ${FAULTS.join(', ')})`);
if (!Number.isInteger(K) || K < 4 || K > 50) throw new Error('--k must be an integer 4..50 (the issue asks for K ≥ 4)');
if (!(SIZE_MB > 0) || !Number.isInteger(LAYERS) || LAYERS < 2 || !(DELAY_MS >= 0) || !(CUT_S > 0) || !(STRIKE_AT > 0 && STRIKE_AT < 1)) {
  throw new Error('bad --size-mb, --layers (≥ 2), --delay-ms, --cut-s or --strike-at (0..1)');
}

const cleanups = benchCleanup();
const log = benchLog('rollout-faults');

const DESCRIPTIONS: Record<Fault | 'none', string> = {
  none: 'clean',
  'kill-serving-node': "SIGKILL the target layer's owner while it serves it; restart on its cache",
  'wan-cut': `WAN link down ${CUT_S} s mid-layer`,
  'restart-node': 'SIGTERM a receiving node (owner of another layer); restart on its cache',
  'disk-full': "the target layer's owner's disk filled to ENOSPC mid-layer",
};

function mb(bytes: number): string {
  return (bytes / 1e6).toFixed(1);
}

async function main(): Promise<void> {
  const unavailable = netnsUnavailableReason();
  if (unavailable) throw new Error(`the rollout-faults benchmark needs network namespaces: ${unavailable}`);
  const layerSize = Math.round((SIZE_MB * 1e6) / LAYERS);
  log(`building a ${LAYERS}-layer image of ~${SIZE_MB} MB (incompressible)`);
  const layout = await buildImage({ layers: LAYERS, layerSize, seed: `rollout-faults-${SIZE_MB}-${LAYERS}` });
  cleanups.add(() => layout.cleanup());
  const image = expectedImage(layout);
  const target = layout.platformLayers.get('linux/amd64')?.[0];
  if (target === undefined) throw new Error('the image has no layer');
  log(`image ${mb(layout.totalBytes)} MB; site of ${K} nodes, WAN ${RATE} each way, +${DELAY_MS} ms each way`);
  const wan = await createWanSite({ nodes: K, rate: RATE });
  cleanups.add(() => wan.destroy());
  const cloud = await startCloudRegistry(wan, { delayMs: DELAY_MS });
  cleanups.add(() => cloud.stop());
  await cloud.push(layout, REFERENCE, 10 * 60_000);
  const work = await makeTempDir('rollout-faults');
  cleanups.add(() => work.remove());

  let runs = 0;
  /** The 1-minute load average when each run ended: the machine is shared, this flags a noisy run. */
  const loads = new Map<FaultRolloutResult, number>();
  const rollout = async (fault: Fault | 'none'): Promise<FaultRolloutResult> => {
    runs += 1;
    log(`${DESCRIPTIONS[fault]}: starting`);
    const result = await runFaultRollout({
      wan, cloud, image, reference: REFERENCE, workDir: work.path, nodes: K, tag: `r${runs}-${fault}`, fault, target,
      strikeAt: STRIKE_AT, cutMs: CUT_S * 1000, pullTimeoutMs: PULL_TIMEOUT_MS, verify: 'sha256', log,
    });
    log(
      `${DESCRIPTIONS[fault]}: makespan ${result.makespan.toFixed(1)} s, nodes ${result.times.map((s) => s.toFixed(1)).join(' ')} s, ` +
        `retries ${result.retries.join(' ')}, WAN ${mb(result.wanToSite)} MB, target from ${result.targetSources.join(' | ')}`,
    );
    loads.set(result, loadavg()[0] ?? 0);
    if (flags.verbose === true) {
      for (const [id, lines] of result.warnings) for (const line of lines) console.log(`  ${id}: ${line}`);
      for (const [id, blobs] of result.cached) console.log(`  ${id} cached: ${blobs.map((blob) => `${blob.digest.slice(7, 19)} ${blob.source} ${(blob.ms / 1000).toFixed(1)} s`).join(' | ')}`);
    }
    return result;
  };
  const first = await rollout('none');
  const faulted: FaultRolloutResult[] = [];
  for (const fault of SELECTED as Fault[]) faulted.push(await rollout(fault));
  const last = await rollout('none');
  const clean = [first, last];

  const baseline = clean.reduce((sum, result) => sum + result.makespan, 0) / clean.length;
  const size = layout.totalBytes;
  const row = (result: FaultRolloutResult, name: string): string[] => {
    // Every node of an open site warns once at start that it is open; that line says nothing about the fault.
    const warnings = [...result.warnings.values()].reduce((sum, lines) => sum + lines.filter((line) => !line.includes('"msg":"open site')).length, 0);
    const errors = [...result.errors.values()].reduce((sum, lines) => sum + lines.length, 0);
    return [
      name,
      result.struckAt === undefined ? '–' : `${result.struckAt.toFixed(1)} (${mb(result.struckAfterBytes ?? 0)} MB in)`,
      result.makespan.toFixed(1),
      result.fault === 'none' ? '–' : `${result.makespan - baseline >= 0 ? '+' : ''}${(result.makespan - baseline).toFixed(1)}`,
      result.times.map((t) => t.toFixed(1)).join(' '),
      result.retries.join(' '),
      `${mb(result.wanToSite)} (${(result.wanToSite / size).toFixed(2)}×)`,
      `${result.blobGets} / ${result.rangeGets}`,
      result.targetSources.map((source) => source.replace(/peer:r\d+-[a-z-]+-n/g, 'peer:n')).join(' · '),
      result.victimExit === undefined ? '–' : `${result.victimExit}; down ${(result.downFor ?? 0).toFixed(1)} s; ${result.cachedBeforeRestart} / ${result.refetchedAfterRestart.length}`,
      `${warnings} / ${errors}`,
      (loads.get(result) ?? 0).toFixed(1),
      'yes',
    ];
  };
  const rows = [row(first, 'clean (first)'), ...faulted.map((result) => row(result, DESCRIPTIONS[result.fault])), row(last, 'clean (last)')];
  const spread = Math.abs(first.makespan - last.makespan);
  const owners = [...faulted, ...clean].map((result) => `${result.fault}: owner ${result.owner.replace(/^r\d+-[a-z-]+-/, '')}${result.victim ? `, victim ${result.victim.replace(/^r\d+-[a-z-]+-/, '')}` : ''}`);
  const command = `npm run bench:rollout-faults -- --k ${K} --size-mb ${SIZE_MB} --layers ${LAYERS} --rate ${RATE} --delay-ms ${DELAY_MS} --cut-s ${CUT_S} --strike-at ${STRIKE_AT}`;
  const report = [
    `Measured ${new Date().toISOString().slice(0, 10)} by \`bench/rollout-faults.ts\`. Command (as root): \`${command}\``,
    '',
    await machine(),
    '',
    `Site as in the rollout benchmark: ${K} node namespaces, docker-registry in a cloud namespace behind a WAN veth shaped with tbf at`,
    `${RATE} each way plus ${DELAY_MS} ms one-way delay. Image: ${LAYERS} layers of seeded random bytes, ${mb(size)} MB in all. Every`,
    "run: fresh caches, full mDNS mesh, then skopeo on every node at once through its own EdgePier. The fault's target is the",
    `first layer (${mb(image.blobs.get(target)?.length ?? 0)} MB); it strikes once ${Math.round(STRIKE_AT * 100)}% of that layer has reached the node it watches (a receiving`,
    "node's spool for the kill and the restart, the owner's for the WAN cut and the disk). A pull that breaks is retried only on",
    'the node the fault took down, after it is back (as a runtime retries); a failed pull anywhere else fails the run. Every file',
    'every client wrote was checked against its sha256 digest ("bytes ok"). Extra time: makespan minus the mean of the two clean runs.',
    '',
    table(
      ['run', 'struck at s (target MB in)', 'makespan s', 'extra s', 'per-node s', 'client retries per node', 'WAN MB (÷ image)', 'cloud blob GETs 200 / 206', 'target layer committed from, per node', 'victim: exit; down until back in the mesh; blobs cached before / fetched again after restart', 'warn / error log lines', 'load avg at end', 'bytes ok'],
      rows,
    ),
    '',
    `Clean runs ${clean.map((result) => result.makespan.toFixed(1)).join(' s and ')} s apart by ${spread.toFixed(1)} s: extra times within that are noise.`,
    `Owner of the target layer and the node struck: ${owners.join('; ')}.`,
  ].join('\n');
  console.log(`\n${report}\n`);
  if (flags['no-write'] !== true) {
    await writeBenchmarkSection(join(ROOT, 'BENCHMARKS.md'), '## Rollout faults', report);
    log('wrote the ## Rollout faults section of BENCHMARKS.md');
  }
}

main()
  .catch((error: unknown) => {
    console.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
    process.exitCode = 1;
  })
  .finally(() => cleanups.run());
