// Start-up with 10,000 cached blobs must stay under 2 s: the node reads one usage journal
// instead of the cacache index (one file per key). Also prints what eviction costs at that
// size. The numbers are printed for BENCHMARKS/README; the assertions are the 2 s bound.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { BudgetedBlobStore } from '../cache/budgeted-blob-store.js';
import { CacacheBlobStore } from '../cache/cacache-blob-store.js';
import { USAGE_JOURNAL_FILE, UsageJournal } from '../cache/usage-journal.js';
import { EdgePierNode } from '../cli/edgepier-node.js';
import { loadConfig } from '../config/load-config.js';
import { MemoryDiscovery, MemoryLan } from '../discovery/memory-discovery.js';
import { digestOf } from '../oci/digest.js';
import { getFreePort, startProcess, waitForHttp } from './support/child-process.js';
import { makeTempDir } from './support/temp-dir.js';
import { waitUntil } from './support/wait-until.js';

const BLOBS = 10_000;
const BLOB_BYTES = 1024;
const MAIN = join(import.meta.dirname, '..', 'cli', 'main.ts');
const silent = pino({ level: 'silent' });

async function seed(cacheDir: string): Promise<void> {
  const store = new BudgetedBlobStore({ inner: new CacacheBlobStore(cacheDir), logger: silent, journal: new UsageJournal(cacheDir) });
  await store.load();
  let next = 0;
  await Promise.all(
    Array.from({ length: 200 }, async () => {
      for (let index = next++; index < BLOBS; index = next++) {
        const bytes = randomBytes(BLOB_BYTES);
        const writer = await store.createWriter(digestOf(bytes));
        await writer.write(bytes);
        await writer.commit();
        await writer.abort();
      }
    }),
  );
  await store.close();
}

async function cliStartMs(cacheDir: string): Promise<{ ms: number; stop: () => Promise<unknown>; output: () => string }> {
  const port = await getFreePort();
  const started = performance.now();
  const cli = startProcess(process.execPath, ['--import', 'tsx', MAIN, 'serve', '--listen', `127.0.0.1:${port}`, '--peer-listen', '127.0.0.1:0', '--cache-dir', cacheDir, '--upstream', 'http://127.0.0.1:9', '--no-mdns'], { name: 'edgepier-serve' });
  await waitForHttp(`http://127.0.0.1:${port}/v2/`, { process: cli, deadlineMs: 30_000 });
  return { ms: performance.now() - started, stop: () => cli.stop(), output: () => cli.stdout };
}

describe(`start-up and eviction with ${BLOBS} cached blobs`, () => {
  let cache: { path: string; remove: () => Promise<void> };
  let empty: { path: string; remove: () => Promise<void> };

  before(async () => {
    cache = await makeTempDir('startup');
    empty = await makeTempDir('startup-empty');
    const started = performance.now();
    await seed(cache.path);
    console.log(`# seeded ${BLOBS} blobs in ${(performance.now() - started).toFixed(0)} ms`);
  });
  after(async () => {
    await cache.remove();
    await empty.remove();
  });

  test('EdgePierNode.start() (journal read, listen, advertise every digest) takes under 2 s', async () => {
    const loaded = loadConfig({ argv: ['--cache-dir', cache.path, '--listen', '127.0.0.1:0', '--peer-listen', '127.0.0.1:0', '--no-mdns', '--upstream', 'http://127.0.0.1:9'], env: {} });
    assert.ok(loaded.ok);
    let discovery: MemoryDiscovery | undefined;
    const node = new EdgePierNode(loaded.config, silent, {
      discovery: ({ nodeId, port }) => (discovery = new MemoryDiscovery({ lan: new MemoryLan(), nodeId, url: `http://127.0.0.1:${port}` })),
    });
    const started = performance.now();
    await node.start();
    const ms = performance.now() - started;
    const advertised = [...(await listAll(cache.path))].filter((digest) => discovery?.holds(digest)).length;
    await node.close();
    console.log(`# in-process start with ${BLOBS} blobs: ${ms.toFixed(0)} ms, ${advertised} digests advertised`);
    assert.equal(advertised, BLOBS);
    assert.ok(ms < 2_000, `start took ${ms.toFixed(0)} ms`);
  });

  test('the real CLI: time to first answer, full cache vs empty cache, and without a journal', async () => {
    const emptyStart = await cliStartMs(empty.path);
    await emptyStart.stop();
    const fullStart = await cliStartMs(cache.path);
    await fullStart.stop();
    await rm(join(cache.path, USAGE_JOURNAL_FILE));
    const noJournal = await cliStartMs(cache.path);
    await waitForReconcile(noJournal.output);
    await noJournal.stop();
    const reconciled = /"ms":(\d+)[^\n]*cache inventory reconciled|cache inventory reconciled[^\n]*/.exec(noJournal.output());
    console.log(
      `# CLI spawn → first HTTP answer: empty cache ${emptyStart.ms.toFixed(0)} ms, ${BLOBS} blobs ${fullStart.ms.toFixed(0)} ms ` +
        `(cache share ${(fullStart.ms - emptyStart.ms).toFixed(0)} ms), no journal ${noJournal.ms.toFixed(0)} ms; ` +
        `background reconciliation: ${reconciled?.[0]?.slice(0, 200) ?? '?'}`,
    );
    assert.ok(fullStart.ms - emptyStart.ms < 2_000, 'the cache adds under 2 s to start-up');
  });

  test('eviction cost at this size (printed)', async () => {
    const inner = new CacacheBlobStore(cache.path);
    const total = BLOBS * BLOB_BYTES;
    const probe = new BudgetedBlobStore({ inner, logger: silent, journal: new UsageJournal(cache.path), budget: { maxBytes: total - 1, lowWaterBytes: total - 1 } });
    await probe.reconcile();
    const one = await probe.evictNow();
    await probe.close();
    const store = new BudgetedBlobStore({ inner, logger: silent, journal: new UsageJournal(cache.path), budget: { maxBytes: Math.floor(total * 0.9), lowWaterBytes: Math.floor(total * 0.8) } });
    await store.load();
    const started = performance.now();
    const report = await store.evictNow();
    const ms = performance.now() - started;
    await store.close();
    console.log(
      `# eviction over ${BLOBS} blobs: 1 blob in ${one?.ms.toFixed(1)} ms (scan+sort+remove); ` +
        `${report?.evicted} blobs (${report?.freedBytes} bytes) in ${ms.toFixed(0)} ms = ${(ms / (report?.evicted ?? 1)).toFixed(2)} ms per blob`,
    );
    assert.equal(one?.evicted, 1);
    assert.ok((report?.evicted ?? 0) >= 1000);
  });
});

async function waitForReconcile(output: () => string): Promise<void> {
  await waitUntil(() => output().includes('cache inventory reconciled'), 'the background reconciliation to log its end', 30_000);
}

async function listAll(cacheDir: string): Promise<Set<string>> {
  return new Set((await UsageJournal.read(cacheDir)).keys());
}
