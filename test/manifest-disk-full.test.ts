// A full cache disk costs manifests, tag records and referrers lists their caching, never the
// answer: each is served uncached with a log line. Runs on a real full tmpfs.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, test } from 'node:test';
import { pino } from 'pino';
import { startBudgetedMirror } from './support/budgeted-mirror.js';
import { canMount, fill, smallDisk } from './support/full-disk.js';
import { startLoopbackRegistry } from './support/loopback-registry.js';

describe('manifest and tag writes on a full disk', { skip: canMount ? false : 'mounting a tmpfs needs root' }, () => {
  test('manifests by tag and by digest, and a referrers list, are served uncached', async (t) => {
    const upstream = await startLoopbackRegistry(t);
    const config = upstream.addBlob(Buffer.from('{}'));
    const { digest, body } = upstream.addManifest('app', 'v1', {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config, size: 2 },
      layers: [],
    });
    const disk = await smallDisk(t);
    let logged = '';
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        logged += chunk.toString('utf8');
        done();
      },
    });
    const mirror = await startBudgetedMirror({ upstreamUrl: upstream.url, cacheDir: join(disk, 'cache'), logger: pino({ level: 'info' }, sink) });
    t.after(() => mirror.close());
    await fill(disk);

    for (const reference of ['v1', digest]) {
      const response = await fetch(`${mirror.url}/v2/app/manifests/${reference}`);
      assert.equal(response.status, 200, `manifest ${reference}: ${logged.slice(-500)}`);
      assert.ok(Buffer.from(await response.arrayBuffer()).equals(body));
      assert.equal(response.headers.get('docker-content-digest'), digest);
    }
    assert.match(logged, /disk full \(or the spool bound\): manifest served uncached/);
    assert.match(logged, /disk full: tag mapping not recorded/);
    // The loopback upstream has no referrers API and no referrers tag: an empty list, uncached.
    const referrers = await fetch(`${mirror.url}/v2/app/referrers/${digest}`);
    assert.equal(referrers.status, 200);
    assert.deepEqual(((await referrers.json()) as { manifests: unknown[] }).manifests, []);
    assert.match(logged, /disk full: referrers list served uncached/);
  });
});
