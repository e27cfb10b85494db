// What a hostile or broken blob source costs a download (issue 15): `npm run bench:download-limits -- --before DIR`.
// DIR is a checkout of the code to compare against (e.g. `git worktree add /tmp/before 7bc380c`
// with node_modules linked). Each case runs the download core of one tree (BlobDownload over
// the budgeted cacache store) in a child process, against loopback sources served by this one,
// alternating trees, so both see the same machine load:
// - flood-cl / flood-nocl: a 1 GiB junk answer for a 1 MiB layer, with a Content-Length that
//   says 1 GiB / with none; a 4 MiB cache budget already holding a verified 2 MiB layer;
// - trickle: the first source sends one byte every 20 s, the second is healthy;
// - cold: a healthy 256 MiB pull (the hot path: the per-chunk pace accounting must be free).
// Writes the `## Download limits` section of BENCHMARKS.md.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import { pino } from 'pino';
import { LoopbackRegistry } from '../test/support/loopback-registry.js';
import { makeTempDir } from '../test/support/temp-dir.js';
import { writeBenchmarkSection, table } from './benchmarks-file.js';
import type * as DownloadModule from '../mirror/blob-download.js';
import type * as BudgetedModule from '../cache/budgeted-blob-store.js';
import type * as CacacheModule from '../cache/cacache-blob-store.js';
import type * as ClientModule from '../upstream/got-registry-client.js';
import type * as DigestModule from '../oci/digest.js';

const MiB = 1024 * 1024;
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const TRICKLE_CAP_MS = 40_000;
const CASES = ['flood-cl', 'flood-nocl', 'trickle', 'cold'] as const;
type Case = (typeof CASES)[number];

interface Outcome {
  readonly ms: number;
  readonly outcome: string;
  readonly peakSpoolBytes: number;
  readonly peakRssBytes: number;
  readonly baseRssBytes: number;
  readonly keptVerified: boolean;
  readonly source: string;
}

const { values: flags } = parseArgs({
  options: {
    before: { type: 'string' },
    child: { type: 'string' },
    tree: { type: 'string' },
    upstream: { type: 'string' },
    good: { type: 'string' },
    digest: { type: 'string' },
    size: { type: 'string' },
    rounds: { type: 'string', default: '3' },
    'no-write': { type: 'boolean', default: false },
  },
});

if (flags.child) {
  process.stdout.write(`${JSON.stringify(await runChild(flags.child as Case))}\n`);
  process.exit(0);
} else {
  await runParent();
}

/** One download with one tree's code; reports what it cost. */
async function runChild(which: Case): Promise<Outcome> {
  const tree = resolve(flags.tree ?? ROOT);
  const { BlobDownload } = (await import(`${tree}/mirror/blob-download.ts`)) as typeof DownloadModule;
  const { BudgetedBlobStore } = (await import(`${tree}/cache/budgeted-blob-store.ts`)) as typeof BudgetedModule;
  const { CacacheBlobStore } = (await import(`${tree}/cache/cacache-blob-store.ts`)) as typeof CacacheModule;
  const { GotRegistryClient } = (await import(`${tree}/upstream/got-registry-client.ts`)) as typeof ClientModule;
  const { digestOf, parseDigest } = (await import(`${tree}/oci/digest.ts`)) as typeof DigestModule;
  const logger = pino({ level: 'silent' });
  const dir = await makeTempDir('bench-download-limits');
  const flood = which === 'flood-cl' || which === 'flood-nocl';
  const store = new BudgetedBlobStore({
    inner: new CacacheBlobStore(dir.path),
    logger,
    ...(flood ? { budget: { maxBytes: 4 * MiB, lowWaterBytes: 3 * MiB } } : {}),
    verifyServes: false,
  });
  const keep = randomBytes(2 * MiB);
  const keepDigest = digestOf(keep);
  if (flood) {
    const writer = await store.createWriter(keepDigest);
    await writer.write(keep);
    await writer.commit();
    await writer.abort();
  }
  const digest = flags.digest ?? '';
  const size = Number(flags.size);
  const source = (url: string, name: string) => {
    const client = new GotRegistryClient({ registry: name, url, timeoutMs: 30_000, logger });
    return { kind: 'upstream' as const, name, open: (offset: number, signal: AbortSignal) => client.fetchBlob('app', digest, { offset, signal }) };
  };
  const sources = which === 'cold' ? [source(flags.good ?? '', 'good')] : [source(flags.upstream ?? '', 'bad'), source(flags.good ?? '', 'good')];
  const baseRss = process.memoryUsage.rss();
  let peakRss = baseRss;
  let peakSpool = 0;
  const sample = (): void => {
    peakRss = Math.max(peakRss, process.memoryUsage.rss());
    peakSpool = Math.max(peakSpool, Number(Reflect.get(store, 'spoolBytes')));
  };
  const sampler = setInterval(sample, 5);
  const started = performance.now();
  // Options as the mirror passes them (the size its descriptor map learnt from the manifest, a
  // fresh spool for starting over); a tree without them ignores the argument.
  const download = new BlobDownload(await store.createWriter(parseDigest(digest)), sources, logger, {
    expectedSize: size,
    reopen: () => store.createWriter(parseDigest(digest)),
  });
  let outcome: string;
  const cap = which === 'trickle' ? setTimeout(() => download.abort('bench cap'), TRICKLE_CAP_MS) : undefined;
  try {
    await download.finished;
    outcome = 'committed';
  } catch (error) {
    outcome = `failed: ${error instanceof Error ? error.message.slice(0, 80) : String(error)}`;
  }
  clearTimeout(cap);
  const ms = performance.now() - started;
  sample();
  clearInterval(sampler);
  await store.evictNow();
  const keptVerified = !flood || (await store.stat(keepDigest)) !== undefined;
  await store.close();
  await dir.remove();
  return { ms, outcome, peakSpoolBytes: peakSpool, peakRssBytes: peakRss, baseRssBytes: baseRss, keptVerified, source: download.source };
}

async function runParent(): Promise<void> {
  if (!flags.before) throw new Error('--before DIR: a checkout to compare against (git worktree add /tmp/before 7bc380c; link node_modules)');
  const trees = { before: resolve(flags.before), after: ROOT };
  const rounds = Number(flags.rounds);
  const bad = new LoopbackRegistry();
  const good = new LoopbackRegistry();
  await bad.start();
  await good.start();
  const results = new Map<string, Outcome[]>();
  const exec = promisify(execFile);
  try {
    for (const which of CASES) {
      const caseRounds = which === 'cold' ? rounds : 1;
      for (let round = 0; round < caseRounds; round += 1) {
        for (const [label, tree] of round % 2 === 0 ? Object.entries(trees) : Object.entries(trees).reverse()) {
          const bytes = randomBytes(which === 'cold' ? 256 * MiB : MiB);
          const digest = bad.addBlob(bytes);
          good.addBlob(bytes);
          if (which === 'flood-cl' || which === 'flood-nocl') {
            bad.setBehaviour(digest, { kind: 'flood', prefix: 'junk', extra: 1024 * MiB, contentLength: which === 'flood-cl' ? 'sent' : 'none' });
          }
          if (which === 'trickle') bad.setBehaviour(digest, { kind: 'slow', chunk: 1, intervalMs: 20_000 });
          const { stdout } = await exec(
            process.execPath,
            ['--import', 'tsx', fileURLToPath(import.meta.url), '--child', which, '--tree', tree, '--upstream', bad.url, '--good', good.url, '--digest', digest, '--size', String(bytes.length)],
            { cwd: ROOT, maxBuffer: 1024 * 1024, timeout: 180_000 },
          );
          const outcome = JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as Outcome;
          const key = `${which}/${label}`;
          results.set(key, [...(results.get(key) ?? []), { ...outcome, outcome: `${outcome.outcome}${which.startsWith('flood') ? `, flood sent ${mb(bad.floodSent.get(digest) ?? 0)}` : ''}` }]);
          process.stderr.write(`${key}: ${JSON.stringify(outcome)}\n`);
        }
      }
    }
  } finally {
    await bad.stop();
    await good.stop();
  }
  const rows: string[][] = [];
  for (const which of CASES) {
    for (const label of ['before', 'after']) {
      const runs = results.get(`${which}/${label}`) ?? [];
      const best = runs.reduce((a, b) => (b.ms < a.ms ? b : a));
      const ms = which === 'trickle' && best.ms >= TRICKLE_CAP_MS - 100 ? `> ${TRICKLE_CAP_MS / 1000} s (cap; would not end)` : `${(best.ms / 1000).toFixed(2)} s`;
      const rate = which === 'cold' ? ` (${((256 * MiB) / MiB / (best.ms / 1000)).toFixed(0)} MiB/s, best of ${runs.length})` : '';
      rows.push([which, label, `${ms}${rate}`, mb(best.peakSpoolBytes), mb(best.peakRssBytes - best.baseRssBytes), which.startsWith('flood') ? (best.keptVerified ? 'kept' : '**evicted**') : '–', `${best.outcome}; from ${best.source || '–'}`]);
    }
  }
  const body = [
    `\`npm run bench:download-limits -- --before /tmp/before15b\` (before = 7bc380c), ${new Date().toISOString().slice(0, 10)}, one run, trees alternating; shared 2-core host.`,
    '',
    table(['case', 'tree', 'time to a verified blob', 'peak spool', 'peak RSS over start', 'verified 2 MiB layer (4 MiB budget)', 'outcome'], rows),
  ].join('\n');
  process.stdout.write(`${body}\n`);
  if (!flags['no-write']) await writeBenchmarkSection(resolve(ROOT, 'BENCHMARKS.md'), '## Download limits', body);
}

function mb(bytes: number): string {
  return `${(bytes / MiB).toFixed(1)} MiB`;
}
