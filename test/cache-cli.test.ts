// `edgepier cache ls|stats|verify|gc` on a cache the mirror filled: references from tags and
// pins, corrupt content found and removed, crash leftovers collected.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { describe, test } from 'node:test';
import cacache from 'cacache';
import contentPath from 'cacache/lib/content/path.js';
import { PinFile } from '../cache/pins.js';
import { parseDigest, toIntegrity } from '../oci/digest.js';
import { startBudgetedMirror } from './support/budgeted-mirror.js';
import { startLoopbackRegistry } from './support/loopback-registry.js';
import { runEdgepier } from './support/run-edgepier.js';
import { waitUntil } from './support/wait-until.js';

describe('edgepier cache', () => {
  test('ls, stats, verify and gc on a real cache directory', async (t) => {
    const upstream = await startLoopbackRegistry(t);
    const layer = randomBytes(300_000);
    const layerDigest = upstream.addBlob(layer);
    const config = randomBytes(500);
    const configDigest = upstream.addBlob(config);
    const loose = upstream.addBlob(randomBytes(1000));
    const manifest = upstream.addManifest('tools/app', 'v1', {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: layerDigest, size: layer.length }],
    });
    const mirror = await startBudgetedMirror({ upstreamUrl: upstream.url });
    t.after(() => mirror.close());
    const accept = { accept: 'application/vnd.oci.image.manifest.v1+json' };
    await (await fetch(`${mirror.url}/v2/tools/app/manifests/v1`, { headers: accept })).arrayBuffer();
    for (const digest of [configDigest, layerDigest, loose]) await (await fetch(`${mirror.url}/v2/tools/app/blobs/${digest}`)).arrayBuffer();
    await waitUntil(() => mirror.mirror.activeDownloads === 0, 'the downloads to finish');
    await mirror.store.close();
    await new PinFile(mirror.cacheDir).add({ image: 'tools/app:v1', digest: manifest.digest, digests: [manifest.digest, configDigest, layerDigest], pinnedAt: Date.now() });
    const dir = ['--cache-dir', mirror.cacheDir];

    const ls = await runEdgepier(['cache', 'ls', '--json', ...dir]);
    assert.equal(ls.code, 0, ls.stderr);
    const blobs = JSON.parse(ls.stdout) as Array<{ digest: string; size: number; pinned: boolean; references: string[] }>;
    assert.equal(blobs.length, 4);
    const layerRow = blobs.find((blob) => blob.digest === layerDigest);
    assert.equal(layerRow?.size, layer.length);
    assert.equal(layerRow?.pinned, true);
    assert.deepEqual(layerRow?.references, ['pin:tools/app:v1', 'upstream.test/tools/app:v1']);
    assert.deepEqual(blobs.find((blob) => blob.digest === loose)?.references, []);
    const table = await runEdgepier(['cache', 'ls', ...dir]);
    assert.match(table.stdout, /^DIGEST\s+SIZE\s+LAST USED\s+PINNED\s+REFERENCES/);
    console.log(`# cache ls:\n${table.stdout.replace(/^/gm, '#   ')}`);

    const stats = await runEdgepier(['cache', 'stats', '--json', ...dir]);
    const totals = JSON.parse(stats.stdout) as { blobs: number; bytes: number; manifests: number; pinnedBlobs: number; tags: number; unreferencedBlobs: number };
    assert.deepEqual(
      { blobs: totals.blobs, manifests: totals.manifests, pinnedBlobs: totals.pinnedBlobs, tags: totals.tags, unreferencedBlobs: totals.unreferencedBlobs },
      { blobs: 4, manifests: 1, pinnedBlobs: 3, tags: 1, unreferencedBlobs: 1 },
    );

    // Corrupt the layer (same size, one byte flipped): verify finds it and removes it.
    const layerPath = contentPath(mirror.cacheDir, toIntegrity(parseDigest(layerDigest)));
    const file = await open(layerPath, 'r+');
    await file.write(Buffer.from([layer[10] === 0 ? 1 : 0]), 0, 1, 10);
    await file.close();
    const verify = await runEdgepier(['cache', 'verify', ...dir]);
    assert.equal(verify.code, 1, 'non-zero when something had to be removed');
    assert.match(verify.stdout, new RegExp(`removed ${layerDigest}: hash`));
    assert.match(verify.stdout, /checked 4 blobs/);
    assert.equal(await cacache.get.info(mirror.cacheDir, `blob:${layerDigest}`), null);
    assert.equal((await runEdgepier(['cache', 'verify', ...dir])).code, 0, 'clean on the second run');

    // Crash leftovers: a spool, an orphaned content file, an index entry without content.
    await mkdir(join(mirror.cacheDir, 'tmp'), { recursive: true });
    await writeFile(join(mirror.cacheDir, 'tmp', 'spool-0123456789ab-000000000000'), randomBytes(1234));
    const orphan = randomBytes(777);
    const orphanPath = contentPath(mirror.cacheDir, toIntegrity(parseDigest(upstream.addBlob(orphan))));
    await mkdir(dirname(orphanPath), { recursive: true });
    await writeFile(orphanPath, orphan);
    await cacache.rm.content(mirror.cacheDir, (await cacache.get.info(mirror.cacheDir, `blob:${loose}`))?.integrity ?? '');
    const young = await runEdgepier(['cache', 'gc', ...dir]);
    assert.match(young.stdout, /removed 0 stale spools .* 0 orphaned content files .* 1 index entries without content/, 'young files may belong to a running node');
    const gc = await runEdgepier(['cache', 'gc', '--min-age', '0', '--json', ...dir]);
    const report = JSON.parse(gc.stdout) as { staleSpools: { files: number }; orphans: { files: number; bytes: number }; danglingEntries: number };
    assert.deepEqual(report, { staleSpools: { files: 1, bytes: 1234 }, orphans: { files: 1, bytes: 777 }, danglingEntries: 0 });
    assert.deepEqual(await readdir(join(mirror.cacheDir, 'tmp')), []);
    assert.equal(await stat(orphanPath).catch(() => undefined), undefined);
    assert.ok(await cacache.get.info(mirror.cacheDir, `blob:${configDigest}`), 'live content is kept');
    assert.ok(await cacache.get(mirror.cacheDir, 'tag:upstream.test/tools/app:v1'), 'tag records are kept');
  });
});
