// Cost of hashing every whole-blob serve (issue 12): `npm run bench:serve-verify`.
// The budgeted cacache store read end to end in process, with serve verification on and off,
// alternating rounds; the minimum of each is the cost with the least interference from other
// load on the machine (bench:serve's wrk numbers swing widely on a shared 2-core host).
// Writes the `## Serve verification` section of BENCHMARKS.md.
import { randomBytes } from 'node:crypto';
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { BudgetedBlobStore } from '../cache/budgeted-blob-store.js';
import { CacacheBlobStore } from '../cache/cacache-blob-store.js';
import type { Digest } from '../oci/digest.js';
import { commitBlob } from '../test/support/commit-blob.js';
import { makeTempDir } from '../test/support/temp-dir.js';
import { writeBenchmarkSection, table } from './benchmarks-file.js';
import { median } from './serve-report.js';

const MiB = 1024 * 1024;
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const { values: flags } = parseArgs({ options: { rounds: { type: 'string', default: '7' }, 'no-write': { type: 'boolean', default: false } } });
const ROUNDS = Number(flags.rounds);
if (!Number.isInteger(ROUNDS) || ROUNDS <= 0) throw new Error('--rounds must be a positive integer');

/** MiB/s of reading every blob whole, `repeat` times, through the store. */
async function readAll(store: BudgetedBlobStore, digests: readonly Digest[], repeat: number): Promise<number> {
  let bytes = 0;
  const started = performance.now();
  for (let round = 0; round < repeat; round += 1) {
    for (const digest of digests) {
      for await (const chunk of await store.createReadStream(digest)) bytes += (chunk as Buffer).length;
    }
  }
  return bytes / MiB / ((performance.now() - started) / 1000);
}

const dir = await makeTempDir('serve-verify');
try {
  const logger = pino({ level: 'silent' });
  const inner = new CacacheBlobStore(dir.path);
  const filler = new BudgetedBlobStore({ inner, logger });
  const big = [await commitBlob(filler, randomBytes(64 * MiB))];
  const small = await Promise.all(Array.from({ length: 32 }, () => commitBlob(filler, randomBytes(MiB))));
  const stores = {
    verified: new BudgetedBlobStore({ inner, logger }),
    unverified: new BudgetedBlobStore({ inner, logger, verifyServes: false }),
  };
  const scenarios = [
    { name: '1 × 64 MiB, read 4 times', digests: big, repeat: 4 },
    { name: '32 × 1 MiB, read 4 times', digests: small, repeat: 4 },
  ];
  const results = scenarios.map(() => ({ verified: [] as number[], unverified: [] as number[] }));
  for (let round = 0; round < ROUNDS; round += 1) {
    for (const [index, scenario] of scenarios.entries()) {
      const order = round % 2 === 0 ? (['verified', 'unverified'] as const) : (['unverified', 'verified'] as const);
      for (const kind of order) results[index]?.[kind].push(await readAll(stores[kind], scenario.digests, scenario.repeat));
    }
  }
  const best = (values: number[]): number => Math.max(...values);
  const rows = scenarios.map((scenario, index) => {
    const result = results[index] ?? { verified: [], unverified: [] };
    return [
      scenario.name,
      `${best(result.unverified).toFixed(0)} (median ${median(result.unverified).toFixed(0)})`,
      `${best(result.verified).toFixed(0)} (median ${median(result.verified).toFixed(0)})`,
      `${(best(result.verified) / best(result.unverified)).toFixed(2)}×`,
    ];
  });
  const body = [
    `Run with \`npm run bench:serve-verify\` (\`node --import tsx bench/serve-verify.ts\`) on ${new Date().toISOString().slice(0, 10)};`,
    `nproc ${availableParallelism()}, load average ${loadavg().map((value) => value.toFixed(1)).join(' ')} at the end.`,
    '',
    `The budgeted cacache store read whole in process, every whole serve hashed (sha256, last chunk held back) vs`,
    `\`verifyServes: false\`; ${ROUNDS} alternating rounds, best round (least disturbed by other load) and median, MiB/s.`,
    '',
    table(['scenario', 'unverified MiB/s', 'verified MiB/s', 'verified/unverified (best)'], rows),
  ].join('\n');
  console.log(body);
  if (!flags['no-write']) await writeBenchmarkSection(join(ROOT, 'BENCHMARKS.md'), '## Serve verification', body);
} finally {
  await dir.remove();
}
