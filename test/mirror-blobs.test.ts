import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { gate } from './support/gate.js';
import { mirrorOverLoopback } from './support/mirror-over-loopback.js';
import { waitUntil } from './support/wait-until.js';

const sha256 = (bytes: Buffer): string => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

describe('blob pull-through against a loopback upstream', () => {
  const fixture = mirrorOverLoopback({ upstreamTimeoutMs: 1_500 });
  const { upstream } = fixture;

  test('8 concurrent cold requests make one upstream GET and all get the right bytes', async () => {
    const blob = randomBytes(3 * 1024 * 1024);
    const digest = upstream.addBlob(blob);
    upstream.setBehaviour(digest, { kind: 'slow', chunk: 256 * 1024, intervalMs: 5 });
    const responses = await Promise.all(
      Array.from({ length: 8 }, () => fetch(`${fixture.mirror.url}/v2/app/blobs/${digest}`)),
    );
    const bodies = await Promise.all(responses.map(async (response) => Buffer.from(await response.arrayBuffer())));
    for (const [index, response] of responses.entries()) {
      assert.equal(response.status, 200);
      assert.equal(response.headers.get('docker-content-digest'), digest);
      assert.equal(response.headers.get('content-length'), String(blob.length));
      assert.equal(sha256(bodies[index] ?? Buffer.alloc(0)), digest);
    }
    assert.equal(upstream.blobGets(digest), 1);
    await waitUntil(async () => (await fixture.mirror.store.stat({ algorithm: 'sha256', hex: digest.slice(7), value: digest })) !== undefined, 'commit');
    const again = await fetch(`${fixture.mirror.url}/v2/app/blobs/${digest}`);
    assert.equal(again.headers.get('x-edgepier-source'), 'cache');
    assert.equal(sha256(Buffer.from(await again.arrayBuffer())), digest);
    assert.equal(upstream.blobGets(digest), 1, 'the second pull is served from cache');
  });

  test('a reader joining mid-download receives bytes before the download ends (cut-through)', async () => {
    const blob = randomBytes(2 * 1024 * 1024);
    const digest = upstream.addBlob(blob);
    // Upstream sends a quarter and then holds the rest back until the client has bytes.
    const release = gate();
    upstream.setBehaviour(digest, { kind: 'held', fraction: 0.25, until: release.opened });
    try {
      const response = await fetch(`${fixture.mirror.url}/v2/app/blobs/${digest}`);
      const reader = response.body?.getReader();
      assert.ok(reader);
      const first = await reader.read();
      assert.ok(first.value && first.value.length > 0);
      assert.equal(fixture.mirror.mirror.activeDownloads, 1, 'first bytes arrived while upstream still held the rest');
      release.open();
      const rest: Uint8Array[] = [first.value];
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        rest.push(value);
      }
      assert.equal(sha256(Buffer.concat(rest)), digest);
    } finally {
      release.open();
    }
  });

  test('Range requests on a cached blob and on a download in progress', async () => {
    const blob = randomBytes(1024 * 1024);
    const digest = upstream.addBlob(blob);
    upstream.setBehaviour(digest, { kind: 'slow', chunk: 128 * 1024, intervalMs: 10 });
    const partial = await fetch(`${fixture.mirror.url}/v2/app/blobs/${digest}`, { headers: { range: 'bytes=1000-1999' } });
    assert.equal(partial.status, 206);
    assert.equal(partial.headers.get('content-range'), `bytes 1000-1999/${blob.length}`);
    assert.deepEqual(Buffer.from(await partial.arrayBuffer()), blob.subarray(1000, 2000));
    await waitUntil(() => fixture.mirror.mirror.activeDownloads === 0, 'download end');
    const suffix = await fetch(`${fixture.mirror.url}/v2/app/blobs/${digest}`, { headers: { range: 'bytes=-100' } });
    assert.equal(suffix.status, 206);
    assert.equal(suffix.headers.get('x-edgepier-source'), 'cache');
    assert.deepEqual(Buffer.from(await suffix.arrayBuffer()), blob.subarray(blob.length - 100));
    const beyond = await fetch(`${fixture.mirror.url}/v2/app/blobs/${digest}`, { headers: { range: `bytes=${blob.length}-` } });
    assert.equal(beyond.status, 416);
    assert.equal(beyond.headers.get('content-range'), `bytes */${blob.length}`);
    const json = (await beyond.json()) as { errors: { code: string }[] };
    assert.equal(json.errors[0]?.code, 'RANGE_INVALID');
    assert.equal(upstream.blobGets(digest), 1);
  });

  test('a download continues and is cached after its only client disconnects', async () => {
    const blob = randomBytes(1024 * 1024);
    const digest = upstream.addBlob(blob);
    // The client leaves while upstream still holds most of the body back.
    const release = gate();
    upstream.setBehaviour(digest, { kind: 'held', fraction: 0.1, until: release.opened });
    const controller = new AbortController();
    const response = await fetch(`${fixture.mirror.url}/v2/app/blobs/${digest}`, { signal: controller.signal });
    await response.body?.getReader().read();
    controller.abort();
    assert.equal(fixture.mirror.mirror.activeDownloads, 1, 'the client left mid-download');
    release.open();
    const parsed = { algorithm: 'sha256' as const, hex: digest.slice(7), value: digest };
    await waitUntil(async () => (await fixture.mirror.store.stat(parsed)) !== undefined, 'cache commit after disconnect');
    const cached = await fetch(`${fixture.mirror.url}/v2/app/blobs/${digest}`);
    assert.equal(sha256(Buffer.from(await cached.arrayBuffer())), digest);
    assert.equal(upstream.blobGets(digest), 1);
  });

  test('HEAD of an uncached blob asks upstream with HEAD and downloads nothing', async () => {
    const blob = randomBytes(4096);
    const digest = upstream.addBlob(blob);
    const head = await fetch(`${fixture.mirror.url}/v2/app/blobs/${digest}`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-length'), String(blob.length));
    assert.equal(head.headers.get('docker-content-digest'), digest);
    assert.equal(upstream.blobGets(digest), 0);
  });
});
