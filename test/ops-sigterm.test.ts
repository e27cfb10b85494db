// SIGTERM during a download: the real CLI process, a slow loopback upstream, a client in the
// middle of the blob. The process must exit 0 within a bound, the client must finish or be
// cut (never hang), and the cache must hold nothing half-written.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { test } from 'node:test';
import { CacacheBlobStore } from '../cache/cacache-blob-store.js';
import { parseDigest } from '../oci/digest.js';
import { getFreePort, startProcess, waitForHttp } from './support/child-process.js';
import { LoopbackRegistry } from './support/loopback-registry.js';
import { makeTempDir } from './support/temp-dir.js';

/** HttpServer's grace (5 s) plus discovery goodbyes and the abort: generous, but bounded. */
const EXIT_BOUND_MS = 12_000;

interface ClientOutcome {
  readonly kind: 'complete' | 'cut';
  readonly bytes: Buffer;
  readonly at: number;
}

/** `promise`'s value, or `fallback` after `ms` (the timer is cleared either way). */
async function within<T, F>(promise: Promise<T>, ms: number, fallback: F): Promise<T | F> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<F>((resolve) => {
    timer = setTimeout(() => resolve(fallback), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Files under `dir`, recursively (relative paths); [] when it does not exist. */
async function filesUnder(dir: string): Promise<string[]> {
  try {
    const entries = await readdir(dir, { recursive: true, withFileTypes: true });
    return entries.filter((entry) => entry.isFile()).map((entry) => join(entry.parentPath, entry.name));
  } catch {
    return [];
  }
}

test('SIGTERM during a slow download: exit 0 within the bound, the client completes or is cut, nothing half-written', async (t) => {
  const upstream = new LoopbackRegistry();
  const blob = Buffer.alloc(2 * 1024 * 1024);
  for (let i = 0; i < blob.length; i += 1) blob[i] = (i * 31) % 251;
  const digest = upstream.addBlob(blob);
  // 8 KiB every 50 ms: the whole blob would take ~13 s, well past the 5 s grace.
  upstream.setBehaviour(digest, { kind: 'slow', chunk: 8 * 1024, intervalMs: 50 });
  await upstream.start();
  t.after(() => upstream.stop());
  const cache = await makeTempDir('sigterm');
  t.after(() => cache.remove());
  const port = await getFreePort();
  const cli = startProcess(
    process.execPath,
    ['--import', 'tsx', join(import.meta.dirname, '..', 'cli', 'main.ts'), 'serve', '--listen', `127.0.0.1:${port}`, '--peer-listen', '127.0.0.1:0', '--cache-dir', cache.path, '--upstream', upstream.url, '--no-mdns'],
    { name: 'edgepier-sigterm' },
  );
  t.after(() => cli.stop({ deadlineMs: 1000 }));
  await waitForHttp(`http://127.0.0.1:${port}/readyz`, { process: cli, deadlineMs: 20_000, accept: (status) => status === 200 });

  let signalled = 0;
  const outcome = new Promise<ClientOutcome>((resolve) => {
    const chunks: Buffer[] = [];
    let received = 0;
    const finish = (kind: ClientOutcome['kind']): void => resolve({ kind, bytes: Buffer.concat(chunks), at: Date.now() });
    const req = request(`http://127.0.0.1:${port}/v2/app/blobs/${digest}`, (response) => {
      assert.equal(response.statusCode, 200);
      response.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        received += chunk.length;
        if (signalled === 0 && received >= 64 * 1024) {
          signalled = Date.now();
          process.kill(cli.pid, 'SIGTERM');
        }
      });
      response.once('end', () => finish(response.complete ? 'complete' : 'cut'));
      response.once('aborted', () => finish('cut'));
      response.once('error', () => finish('cut'));
    });
    req.once('error', () => finish('cut'));
    req.end();
  });

  const exit = await within(cli.exited, 30_000 + EXIT_BOUND_MS, 'timeout' as const);
  if (exit === 'timeout') assert.fail(`the process did not exit: ${cli.diagnostics()}`);
  const exitedAt = Date.now();
  assert.ok(signalled > 0, 'SIGTERM was sent mid-download');
  assert.deepEqual(exit, { code: 0, signal: null }, cli.diagnostics());
  assert.ok(exitedAt - signalled < EXIT_BOUND_MS, `exited ${exitedAt - signalled} ms after SIGTERM`);
  t.diagnostic(`exited ${exitedAt - signalled} ms after SIGTERM`);
  assert.match(cli.stdout, /"signal":"SIGTERM".*"msg":"shutting down"/);

  const client = await within(outcome, 5_000, 'hang' as const);
  if (client === 'hang') assert.fail('the client is left hanging after the process is gone');
  t.diagnostic(`client: ${client.kind} after ${client.bytes.length} bytes, ${client.at - signalled} ms after SIGTERM`);
  if (client.kind === 'complete') {
    assert.ok(client.bytes.equals(blob), 'a completed transfer is the whole, correct blob');
  } else {
    assert.ok(client.bytes.length < blob.length, `the client was cut after ${client.bytes.length} bytes`);
    assert.ok(blob.subarray(0, client.bytes.length).equals(client.bytes), 'what it got before the cut is a correct prefix');
  }

  const store = new CacacheBlobStore(cache.path);
  const stored = await store.stat(parseDigest(digest));
  if (stored) {
    // Only possible when the download finished before the abort: then it is verified content.
    const content = await store.createReadStream(parseDigest(digest));
    const hash = createHash('sha256');
    for await (const chunk of content) hash.update(chunk as Buffer);
    assert.equal(`sha256:${hash.digest('hex')}`, digest);
  } else {
    assert.deepEqual(await filesUnder(join(cache.path, 'content-v2')), [], 'no content file for an unfinished blob');
  }
  assert.deepEqual(await filesUnder(join(cache.path, 'tmp')), [], 'no spool file left behind');
});
