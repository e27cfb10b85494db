// `edgepier prefetch` against a running node (the real CLI, both sides): one platform of a
// multi-platform image lands in the cache through the node, pinned blobs survive eviction
// under a small budget, and `unpin` hands them back to the LRU.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { ProgressReporter } from '../cli/commands/progress-reporter.js';
import { getFreePort, pollUntil, startProcess, waitForHttp } from './support/child-process.js';
import { startLoopbackRegistry, type LoopbackRegistry } from './support/loopback-registry.js';
import { runEdgepier } from './support/run-edgepier.js';
import { makeTempDir } from './support/temp-dir.js';

const MAIN = join(import.meta.dirname, '..', 'cli', 'main.ts');
const LAYER = 150_000;

function platformImage(upstream: LoopbackRegistry, architecture: string): { manifest: { digest: string; body: Buffer }; blobs: string[] } {
  const config = randomBytes(300);
  const layers = [randomBytes(LAYER), randomBytes(LAYER)];
  const configDigest = upstream.addBlob(config);
  const layerDigests = layers.map((layer) => upstream.addBlob(layer));
  const manifest = upstream.addManifest('edge/app', `only-${architecture}`, {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
    layers: layerDigests.map((digest) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest, size: LAYER })),
  });
  return { manifest, blobs: [configDigest, ...layerDigests] };
}

describe('edgepier prefetch / unpin', () => {
  test('prefetch --pin --platform through a running node; pins survive eviction; unpin releases them', async (t) => {
    const upstream = await startLoopbackRegistry(t);
    const amd64 = platformImage(upstream, 'amd64');
    const arm64 = platformImage(upstream, 'arm64');
    const index = upstream.addManifest(
      'edge/app',
      'v1',
      {
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.index.v1+json',
        manifests: [
          { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: amd64.manifest.digest, size: amd64.manifest.body.length, platform: { os: 'linux', architecture: 'amd64' } },
          { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: arm64.manifest.digest, size: arm64.manifest.body.length, platform: { os: 'linux', architecture: 'arm64' } },
        ],
      },
      'application/vnd.oci.image.index.v1+json',
    );
    const cache = await makeTempDir('prefetch');
    t.after(() => cache.remove());
    const port = await getFreePort();
    const node = startProcess(
      process.execPath,
      ['--import', 'tsx', MAIN, 'serve', '--listen', `127.0.0.1:${port}`, '--peer-listen', '127.0.0.1:0', '--cache-dir', cache.path, '--upstream', upstream.url, '--no-mdns', '--cache-max-size', '600kB', '--cache-low-water', '80%'],
      { name: 'edgepier-serve' },
    );
    t.after(() => node.stop());
    const url = `http://127.0.0.1:${port}`;
    await waitForHttp(`${url}/v2/`, { process: node, deadlineMs: 20_000 });
    const dir = ['--cache-dir', cache.path];

    const prefetch = await runEdgepier(['prefetch', 'edge/app:v1', '--pin', '--platform', 'linux/arm64', '--mirror', url, ...dir]);
    assert.equal(prefetch.code, 0, prefetch.stderr);
    console.log(`# prefetch output (not a TTY):\n${prefetch.stdout.replace(/^/gm, '#   ')}`);
    assert.match(prefetch.stdout, /^fetching 3 blobs, /m);
    assert.match(prefetch.stdout, /^\[3\/3\] sha256:/m);
    assert.match(prefetch.stdout, new RegExp(`edge/app:v1 ${index.digest}: 3 blobs, .* \\(0 already cached\\) .*pinned`));
    for (const digest of arm64.blobs) assert.equal(upstream.blobGets(digest), 1, 'arm64 blobs came through the node once');
    for (const digest of amd64.blobs) assert.equal(upstream.blobGets(digest), 0, 'other platforms were not fetched');
    const pins = JSON.parse(await readFile(join(cache.path, 'pins.json'), 'utf8')) as { pins: Array<{ image: string; digest: string; digests: string[] }> };
    assert.equal(pins.pins.length, 1);
    assert.equal(pins.pins[0]?.image, 'edge/app:v1');
    assert.equal(pins.pins[0]?.digest, index.digest);
    for (const digest of [index.digest, arm64.manifest.digest, ...arm64.blobs]) assert.ok(pins.pins[0]?.digests.includes(digest), `${digest} pinned`);

    const again = await runEdgepier(['prefetch', 'edge/app:v1', '--platform', 'linux/arm64', '--mirror', url]);
    assert.match(again.stdout, /\(3 already cached\)/);

    // A stream of other pulls, far over the 600 kB budget.
    const pullOthers = async (count: number): Promise<void> => {
      for (let index = 0; index < count; index += 1) {
        const digest = upstream.addBlob(randomBytes(LAYER));
        const response = await fetch(`${url}/v2/edge/other/blobs/${digest}`);
        assert.equal(response.status, 200);
        await response.arrayBuffer();
      }
    };
    await pullOthers(8);
    await pollUntil('eviction to run in the node', () => Promise.resolve(/"msg":"cache eviction"/.test(node.stdout) ? true : undefined), { process: node });
    for (const digest of arm64.blobs) {
      const response = await fetch(`${url}/v2/edge/app/blobs/${digest}`);
      await response.arrayBuffer();
      assert.equal(response.headers.get('x-edgepier-source'), 'cache', `pinned ${digest} survived eviction`);
    }

    const unpin = await runEdgepier(['unpin', 'edge/app:v1', ...dir]);
    assert.equal(unpin.code, 0, unpin.stderr);
    assert.equal((await runEdgepier(['unpin', 'edge/app:v1', ...dir])).code, 1, 'unpinning twice says it is not pinned');
    const layers = arm64.blobs.slice(1);
    await pollUntil(
      'the unpinned layers to be evicted',
      async () => {
        await pullOthers(2);
        const ls = await runEdgepier(['cache', 'ls', '--json', ...dir]);
        const held = (JSON.parse(ls.stdout) as Array<{ digest: string }>).map((blob) => blob.digest);
        return layers.every((digest) => !held.includes(digest)) ? true : undefined;
      },
      { process: node, deadlineMs: 30_000, intervalMs: 200 },
    );
  });

  test('usage errors and a missing image are reported, with exit codes 2 and 1', async () => {
    const usage = await runEdgepier(['prefetch']);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /give exactly one IMAGE/);
    const bogus = await runEdgepier(['prefetch', 'x:y', '--bogus']);
    assert.equal(bogus.code, 2);
    assert.match(bogus.stderr, /unknown option --bogus/);
    const unreachable = await runEdgepier(['prefetch', 'app:v1', '--mirror', 'http://127.0.0.1:9']);
    assert.equal(unreachable.code, 1);
  });

  test('on a TTY the progress is one bar redrawn in place', () => {
    let written = '';
    const progress = new ProgressReporter({ isTTY: true, columns: 100, write: (text: string) => (written += text) });
    progress.start(2, 2048);
    progress.advance(1024);
    progress.blobDone('sha256:aaaa', 1024, 'upstream');
    progress.advance(1024);
    progress.blobDone('sha256:bbbb', 1024, 'cache');
    progress.finish();
    assert.ok(!written.includes('fetching'), 'no plain lines on a TTY');
    const frames = written.split('\r\x1b[K').filter(Boolean);
    assert.ok(frames.includes('[####################....................]  50% 1.0 KiB/2.0 KiB 1/2 blobs'), JSON.stringify(frames));
    assert.equal(frames.at(-1), '[########################################] 100% 2.0 KiB/2.0 KiB 2/2 blobs\n');
  });
});
