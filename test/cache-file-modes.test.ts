// The cache holds private layers, tags and the transparent-mode CA key: the real CLI, started
// from a shell with the usual umask 022, must still leave nothing readable by other users.
// Every file in the cache dir is 0600 and every directory 0700 after a pull, and a cache dir
// that an older version (or umask 022) created 0755 is narrowed to 0700 at start.
import assert from 'node:assert/strict';
import { chmod, lstat, mkdir, readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { getFreePort, startProcess } from './support/child-process.js';
import { LoopbackRegistry } from './support/loopback-registry.js';
import { runEdgepier } from './support/run-edgepier.js';
import { makeTempDir } from './support/temp-dir.js';

const MAIN = join(import.meta.dirname, '..', 'cli', 'main.ts');
const LAYER = Buffer.from(Array.from({ length: 200_000 }, (_, index) => (index * 31) % 253));
/** `sh -c` with this script runs "$0" "$@" under umask 022, the way a login shell or a unit would. */
const UNDER_UMASK_022 = 'umask 022; exec "$0" "$@"';

/** Every path under `root` (itself included) with its permission bits, relative to `root`. */
async function walk(root: string): Promise<Array<{ path: string; kind: 'dir' | 'file' | 'other'; mode: number }>> {
  const found: Array<{ path: string; kind: 'dir' | 'file' | 'other'; mode: number }> = [];
  const visit = async (path: string, depth: number): Promise<void> => {
    assert.ok(depth < 20, `${path}: deeper than any cache layout`);
    const stats = await lstat(path);
    found.push({ path: relative(root, path) || '.', kind: stats.isDirectory() ? 'dir' : stats.isFile() ? 'file' : 'other', mode: stats.mode & 0o777 });
    if (stats.isDirectory()) for (const name of await readdir(path)) await visit(join(path, name), depth + 1);
  };
  await visit(root, 0);
  return found;
}

test('serve under umask 022: a 0755 cache dir becomes 0700, and everything it writes is 0600 files in 0700 dirs', async (t) => {
  const dir = await makeTempDir('file-modes');
  t.after(() => dir.remove());
  const registry = new LoopbackRegistry();
  const digest = registry.addBlob(LAYER);
  registry.addManifest('tools/app', 'v1', { schemaVersion: 2, layers: [{ digest, size: LAYER.length }] });
  await registry.start();
  t.after(() => registry.stop());

  // What an earlier version left: a cache dir any local user can traverse.
  const cacheDir = join(dir.path, 'cache');
  await mkdir(cacheDir);
  await chmod(cacheDir, 0o755);
  const [port, proxyPort] = [await getFreePort(), await getFreePort()];
  const cli = startProcess(
    'sh',
    [
      '-c', UNDER_UMASK_022, process.execPath, '--import', 'tsx', MAIN, 'serve', '--peer-listen', '127.0.0.1:0',
      '--listen', `127.0.0.1:${port}`,
      '--proxy-listen', `127.0.0.1:${proxyPort}`,
      '--cache-dir', cacheDir,
      '--upstream', registry.url,
      '--no-mdns',
    ],
    { name: 'edgepier-serve' },
  );
  t.after(() => cli.stop());
  await cli.waitForOutput(/"msg":"transparent proxy listening"/, { deadlineMs: 30_000 });
  assert.match(cli.stdout, /"was":"0755","now":"0700".*"msg":"the cache dir was readable by other users/, 'the narrowing was logged');
  assert.equal((await lstat(cacheDir)).mode & 0o777, 0o700);

  const manifest = await fetch(`http://127.0.0.1:${port}/v2/tools/app/manifests/v1`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
  assert.equal(manifest.status, 200);
  await manifest.arrayBuffer();
  const blob = await fetch(`http://127.0.0.1:${port}/v2/tools/app/blobs/${digest}`);
  assert.ok(Buffer.from(await blob.arrayBuffer()).equals(LAYER));
  await cli.waitForOutput(/"msg":"blob cached"/, { deadlineMs: 10_000 });
  // SIGTERM: the node closes its cache (journal flushed), so every file it writes is on disk.
  const exit = await cli.stop();
  assert.equal(exit.code, 0, cli.diagnostics());

  // `ca export --out` is the one public file: the certificate, meant to be copied into trust stores.
  const exported = join(dir.path, 'edgepier-ca.pem');
  const caExport = await runEdgepier(['ca', 'export', '--cache-dir', cacheDir, '--out', exported]);
  assert.equal(caExport.code, 0, caExport.stderr);
  assert.equal((await lstat(exported)).mode & 0o777, 0o644);

  const entries = await walk(cacheDir);
  const paths = new Set(entries.map((entry) => entry.path));
  for (const expected of ['node-id', join('ca', 'ca-key.pem'), join('ca', 'ca.pem')]) assert.ok(paths.has(expected), `${expected} is in the cache dir`);
  assert.ok(entries.some((entry) => entry.kind === 'file' && entry.path.startsWith('content-v2')), 'the blob is in the cache');
  assert.ok(entries.some((entry) => entry.kind === 'file' && entry.path.startsWith('index-v5')), 'its index entry is in the cache');
  assert.ok(entries.filter((entry) => entry.kind === 'file').length >= 6, JSON.stringify(entries));
  const wrong = entries.filter((entry) => (entry.kind === 'dir' ? entry.mode !== 0o700 : entry.mode !== 0o600));
  assert.deepEqual(wrong.map((entry) => `${entry.path} ${entry.kind} ${entry.mode.toString(8)}`), [], 'every dir 0700, every file 0600');
  assert.equal((await readFile(join(cacheDir, 'ca', 'ca.pem'), 'utf8')).trim(), (await readFile(exported, 'utf8')).trim());
});
