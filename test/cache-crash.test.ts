// kill -9 in the middle of a download, then restart the real CLI on the same cache: the
// half-written spool is never served (it is removed at start), the blob is fetched again
// intact, and the tag → digest record written before the crash still answers offline.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { getFreePort, pollUntil, startProcess, waitForHttp, type RunningProcess } from './support/child-process.js';
import { startLoopbackRegistry } from './support/loopback-registry.js';
import { readBody } from './support/read-body.js';
import { makeTempDir } from './support/temp-dir.js';

const MAIN = join(import.meta.dirname, '..', 'cli', 'main.ts');

async function serve(t: TestContext, cacheDir: string, upstream: string): Promise<{ cli: RunningProcess; url: string }> {
  const port = await getFreePort();
  const cli = startProcess(
    process.execPath,
    ['--import', 'tsx', MAIN, 'serve', '--listen', `127.0.0.1:${port}`, '--peer-listen', '127.0.0.1:0', '--cache-dir', cacheDir, '--upstream', upstream, '--no-mdns', '--tag-timeout', '1s', '--upstream-timeout', '2s'],
    { name: 'edgepier-serve' },
  );
  t.after(() => cli.stop());
  const url = `http://127.0.0.1:${port}`;
  await waitForHttp(`${url}/v2/`, { process: cli, deadlineMs: 20_000 });
  return { cli, url };
}

async function spools(cacheDir: string): Promise<Array<{ name: string; size: number }>> {
  const names = await readdir(join(cacheDir, 'tmp')).catch(() => [] as string[]);
  const found: Array<{ name: string; size: number }> = [];
  for (const name of names.filter((n) => n.startsWith('spool-'))) {
    const info = await stat(join(cacheDir, 'tmp', name)).catch(() => undefined);
    if (info) found.push({ name, size: info.size });
  }
  return found;
}

describe('crash safety of the real CLI', () => {
  test('kill -9 mid-download, restart: nothing half-written is served, content and tags survive', async (t) => {
    const upstream = await startLoopbackRegistry(t);
    const layer = randomBytes(2 * 1024 * 1024);
    const layerDigest = upstream.addBlob(layer);
    const config = randomBytes(2000);
    const configDigest = upstream.addBlob(config);
    const manifest = upstream.addManifest('crash/app', 'v1', {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: layerDigest, size: layer.length }],
    });
    const cache = await makeTempDir('crash');
    t.after(() => cache.remove());

    const first = await serve(t, cache.path, upstream.url);
    const tagged = await fetch(`${first.url}/v2/crash/app/manifests/v1`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
    assert.equal(tagged.status, 200);
    await tagged.arrayBuffer();
    const configAnswer = await fetch(`${first.url}/v2/crash/app/blobs/${configDigest}`);
    assert.ok((await readBody(configAnswer)).bytes.equals(config));
    upstream.setBehaviour(layerDigest, { kind: 'slow', chunk: 32 * 1024, intervalMs: 50 });
    const controller = new AbortController();
    const pending = fetch(`${first.url}/v2/crash/app/blobs/${layerDigest}`, { signal: controller.signal }).then(readBody, () => undefined);
    const partial = await pollUntil('a spool with some bytes', async () => {
      const found = (await spools(cache.path)).find((spool) => spool.size >= 128 * 1024);
      return found;
    });
    first.cli.killNow(); // SIGKILL: no shutdown code runs
    const exit = await first.cli.exited;
    assert.equal(exit.signal, 'SIGKILL');
    controller.abort();
    await pending;
    assert.ok((await spools(cache.path)).some((spool) => spool.name === partial.name), 'the crash left a half-written spool');

    upstream.setBehaviour(layerDigest, { kind: 'normal' });
    const second = await serve(t, cache.path, upstream.url);
    assert.deepEqual(await spools(cache.path), [], 'start-up removed the stale spool');
    const layerAnswer = await fetch(`${second.url}/v2/crash/app/blobs/${layerDigest}`);
    const body = await readBody(layerAnswer);
    assert.equal(layerAnswer.headers.get('x-edgepier-source'), 'upstream', 'the interrupted blob is fetched again');
    assert.ok(body.complete && body.bytes.equals(layer));
    const configAgain = await fetch(`${second.url}/v2/crash/app/blobs/${configDigest}`);
    assert.equal(configAgain.headers.get('x-edgepier-source'), 'cache', 'content committed before the crash survives');
    assert.ok((await readBody(configAgain)).bytes.equals(config));

    await upstream.stop();
    const offline = await fetch(`${second.url}/v2/crash/app/manifests/v1`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
    assert.equal(offline.status, 200, 'the tag record written before the crash still resolves with upstream gone');
    assert.equal(offline.headers.get('docker-content-digest'), manifest.digest);
    await offline.arrayBuffer();
    const stopped = await second.cli.stop();
    assert.equal(stopped.code, 0, second.cli.diagnostics());
  });
});
