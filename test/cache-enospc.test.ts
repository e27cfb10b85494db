// A full disk turns caching off for the download that hit it: the client still gets every
// byte (verified) from upstream, the failure is logged, and nothing is cached or advertised.
// Runs on a real 2 MiB tmpfs (needs root to mount).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, test } from 'node:test';
import { pino, type Logger } from 'pino';
import { parseDigest } from '../oci/digest.js';
import { startBudgetedMirror } from './support/budgeted-mirror.js';
import { startLoopbackRegistry } from './support/loopback-registry.js';
import { readBody } from './support/read-body.js';
import { canMount as isRoot, fill, smallDisk } from './support/full-disk.js';

function capture(): { logger: Logger; text: () => string } {
  let logged = '';
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      logged += chunk.toString('utf8');
      done();
    },
  });
  return { logger: pino({ level: 'info' }, sink), text: () => logged };
}

describe('ENOSPC on the cache disk', { skip: isRoot ? false : 'mounting a tmpfs needs root' }, () => {
  test('the disk fills up mid-download: every client still gets the blob intact, nothing is cached', async (t) => {
    const upstream = await startLoopbackRegistry(t);
    const bytes = randomBytes(5 * 1024 * 1024);
    const digest = upstream.addBlob(bytes);
    // Slow enough that the second client joins the first one's download.
    upstream.setBehaviour(digest, { kind: 'slow', chunk: 256 * 1024, intervalMs: 10 });
    const disk = await smallDisk(t);
    const logs = capture();
    const mirror = await startBudgetedMirror({ upstreamUrl: upstream.url, cacheDir: join(disk, 'cache'), logger: logs.logger });
    t.after(() => mirror.close());
    // Two clients of the same download: both are fed from memory once the spool is stuck.
    const answers = await Promise.all([0, 1].map(async () => {
      const response = await fetch(`${mirror.url}/v2/app/blobs/${digest}`);
      return { status: response.status, ...(await readBody(response)) };
    }));
    for (const answer of answers) {
      assert.equal(answer.status, 200);
      assert.ok(answer.complete && answer.bytes.equals(bytes), `got ${answer.bytes.length} of ${bytes.length} bytes`);
    }
    assert.match(logs.text(), /disk full: serving this blob without caching it/);
    assert.equal(await mirror.store.stat(parseDigest(digest)), undefined, 'nothing was cached');
    assert.equal(upstream.blobGets(digest), 1, 'both clients shared one upstream fetch');
  });

  test('the disk is already full: the spool cannot take a byte, the pull still succeeds', async (t) => {
    const upstream = await startLoopbackRegistry(t);
    const disk = await smallDisk(t);
    const logs = capture();
    const mirror = await startBudgetedMirror({ upstreamUrl: upstream.url, cacheDir: join(disk, 'cache'), logger: logs.logger });
    t.after(() => mirror.close());
    await fill(disk);
    for (const size of [100_000, 3 * 1024 * 1024]) {
      const bytes = randomBytes(size);
      const digest = upstream.addBlob(bytes);
      const response = await fetch(`${mirror.url}/v2/app/blobs/${digest}`);
      const answer = await readBody(response);
      assert.equal(response.status, 200);
      assert.ok(answer.complete && answer.bytes.equals(bytes));
    }
    assert.match(logs.text(), /disk full/);
    assert.equal(mirror.removed.length, 0);
  });
});
