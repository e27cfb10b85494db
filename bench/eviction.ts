// Whether eviction keeps a busy cache inside its budget (issue 15): `npm run bench:eviction -- --before DIR`.
// DIR is a checkout of the code to compare against, with node_modules. Each run is one tree's
// budgeted cacache store in a child process: `--writers` downloads commit small blobs as fast
// as they can (the soak's cold images are 16 and 128 KiB) while `--readers` read a cached
// 64 MiB file in 256 KiB chunks, as serves do, so removals queue in libuv's pool behind reads
// the way they do in `serve`. Trees alternate, so both see the same machine load. Reports
// the cache's peak size against its budget, commits and evictions a second, and how long the
// cache took to come back under budget once the writers stopped.
// Writes the `## Eviction` section of BENCHMARKS.md.
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { open, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import { pino } from 'pino';
import { makeTempDir } from '../test/support/temp-dir.js';
import { writeBenchmarkSection, table } from './benchmarks-file.js';
import { positiveIntegerFlag } from './positive-flag.js';
import type * as BudgetedModule from '../cache/budgeted-blob-store.js';
import type * as CacacheModule from '../cache/cacache-blob-store.js';
import type * as JournalModule from '../cache/usage-journal.js';
import type * as DigestModule from '../oci/digest.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BUDGET_BYTES = 32 * MiB;
const LOW_WATER_BYTES = Math.floor(BUDGET_BYTES * 0.9);
const BLOB_SIZES = [16 * KiB, 128 * KiB];
const READ_FILE_BYTES = 64 * MiB;
const READ_CHUNK_BYTES = 256 * KiB;
/** The writers stopped and the cache is still over budget after this: the run says so rather than wait on. */
const SETTLE_CAP_MS = 120_000;

interface Outcome {
  readonly commits: number;
  readonly writeMs: number;
  readonly evictions: number;
  readonly peakBytes: number;
  readonly settleMs: number;
  /** Read by the readers while the writers ran (the serves that eviction competes with). */
  readonly readBytes: number;
}

const { values: flags } = parseArgs({
  options: {
    before: { type: 'string' },
    rounds: { type: 'string', default: '2' },
    blobs: { type: 'string', default: '3000' },
    writers: { type: 'string', default: '8' },
    readers: { type: 'string', default: '16' },
    child: { type: 'boolean', default: false },
    tree: { type: 'string' },
    'no-write': { type: 'boolean', default: false },
  },
});

function whole(name: 'rounds' | 'blobs' | 'writers' | 'readers'): number {
  // No readers is a run of its own (eviction with the pool to itself); no writers or rounds is a typo.
  if (name === 'readers' && flags.readers === '0') return 0;
  return positiveIntegerFlag(name, flags[name]);
}

if (flags.child) {
  process.stdout.write(`${JSON.stringify(await runChild(resolve(flags.tree ?? ROOT)))}\n`);
} else {
  await main();
}

async function runChild(tree: string): Promise<Outcome> {
  const { BudgetedBlobStore } = (await import(`${tree}/cache/budgeted-blob-store.ts`)) as typeof BudgetedModule;
  const { CacacheBlobStore } = (await import(`${tree}/cache/cacache-blob-store.ts`)) as typeof CacacheModule;
  const { UsageJournal } = (await import(`${tree}/cache/usage-journal.ts`)) as typeof JournalModule;
  const { parseDigest } = (await import(`${tree}/oci/digest.ts`)) as typeof DigestModule;
  const dir = await makeTempDir('edgepier-bench-eviction-');
  try {
    const store = new BudgetedBlobStore({
      inner: new CacacheBlobStore(join(dir.path, 'cache')),
      logger: pino({ level: 'silent' }),
      journal: new UsageJournal(join(dir.path, 'cache')),
      budget: { maxBytes: BUDGET_BYTES, lowWaterBytes: LOW_WATER_BYTES },
    });
    await store.load();
    const readPath = join(dir.path, 'served.bin');
    await writeFile(readPath, randomBytes(READ_FILE_BYTES));

    let peakBytes = 0;
    let commits = 0;
    let reading = true;
    let readBytes = 0;
    const sampler = setInterval(() => (peakBytes = Math.max(peakBytes, store.usedBytes)), 20);
    const reader = async (): Promise<void> => {
      const handle = await open(readPath, 'r');
      try {
        const buffer = Buffer.alloc(READ_CHUNK_BYTES);
        for (let position = 0; reading; position = (position + READ_CHUNK_BYTES) % READ_FILE_BYTES) {
          readBytes += (await handle.read(buffer, 0, READ_CHUNK_BYTES, position)).bytesRead;
        }
      } finally {
        await handle.close();
      }
    };
    const blobs = whole('blobs');
    const writer = async (): Promise<void> => {
      while (commits < blobs) {
        commits += 1;
        const bytes = randomBytes(BLOB_SIZES[commits % BLOB_SIZES.length] ?? KiB);
        const writer = await store.createWriter(parseDigest(`sha256:${createHash('sha256').update(bytes).digest('hex')}`));
        await writer.write(bytes);
        await writer.commit();
        await writer.abort();
      }
    };
    const readers = Array.from({ length: whole('readers') }, reader);
    const started = performance.now();
    await Promise.all(Array.from({ length: whole('writers') }, writer));
    const writeMs = performance.now() - started;
    const readWhileWriting = readBytes;
    const stopped = performance.now();
    for (let round = 0; round < 1_000 && store.usedBytes > BUDGET_BYTES && performance.now() - stopped < SETTLE_CAP_MS; round += 1) {
      await store.idle();
      await new Promise((settle) => setTimeout(settle, 20));
    }
    const settleMs = performance.now() - stopped;
    reading = false;
    await Promise.all(readers);
    clearInterval(sampler);
    peakBytes = Math.max(peakBytes, store.usedBytes);
    const evictions = commits - store.blobCount;
    await store.close();
    return { commits, writeMs, evictions, peakBytes, settleMs, readBytes: readWhileWriting };
  } finally {
    await dir.remove();
  }
}

async function main(): Promise<void> {
  const trees: Array<{ label: string; path: string }> = [{ label: 'this tree', path: ROOT }];
  if (flags.before) trees.unshift({ label: 'before', path: resolve(flags.before) });
  const exec = promisify(execFile);
  const outcomes = new Map<string, Outcome[]>(trees.map((tree) => [tree.label, []]));
  for (let round = 0; round < whole('rounds'); round += 1) {
    for (const tree of trees) {
      const args = ['--import', 'tsx', fileURLToPath(import.meta.url), '--child', '--tree', tree.path, '--blobs', String(flags.blobs), '--writers', String(flags.writers), '--readers', String(flags.readers)];
      const { stdout } = await exec(process.execPath, args, { cwd: ROOT, maxBuffer: 1 * MiB, timeout: 10 * 60_000 });
      const outcome = JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as Outcome;
      outcomes.get(tree.label)?.push(outcome);
      console.log(`round ${round + 1} ${tree.label}: ${JSON.stringify(outcome)}`);
    }
  }
  const rows = trees.flatMap((tree) =>
    (outcomes.get(tree.label) ?? []).map((outcome, index) => [
      tree.label,
      String(index + 1),
      `${(outcome.peakBytes / MiB).toFixed(1)} MiB (${(outcome.peakBytes / BUDGET_BYTES).toFixed(2)}×)`,
      (outcome.commits / (outcome.writeMs / 1000)).toFixed(0),
      (outcome.evictions / ((outcome.writeMs + outcome.settleMs) / 1000)).toFixed(0),
      outcome.settleMs >= SETTLE_CAP_MS ? `over ${SETTLE_CAP_MS / 1000} s` : `${(outcome.settleMs / 1000).toFixed(1)} s`,
      (outcome.readBytes / MiB / (outcome.writeMs / 1000)).toFixed(0),
    ]),
  );
  const command = `npm run bench:eviction${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
  const text = [
    `Run with \`${command}\` on ${new Date().toISOString().slice(0, 10)}. Budget ${BUDGET_BYTES / MiB} MiB (low water 90%), ${flags.blobs} blobs of 16 and 128 KiB from ${flags.writers} writers, ${flags.readers} readers of a 64 MiB file in 256 KiB reads; trees alternate, one child process per run.`,
    '',
    table(['tree', 'run', 'peak cache', 'commits/s', 'evictions/s', 'back under budget after the writers', 'read MiB/s while writing'], rows),
  ].join('\n');
  console.log(`\n${text}\n`);
  if (!flags['no-write']) await writeBenchmarkSection(join(ROOT, 'BENCHMARKS.md'), '## Eviction', text);
}
