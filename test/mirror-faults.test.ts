import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { parseDigest } from '../oci/digest.js';
import type { MirrorUnderTest } from './support/mirror-under-test.js';
import { mirrorOverLoopback } from './support/mirror-over-loopback.js';
import { readBody } from './support/read-body.js';
import { waitUntil } from './support/wait-until.js';

const sha256 = (bytes: Buffer): string => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

async function settle(mirror: MirrorUnderTest): Promise<void> {
  await waitUntil(() => mirror.mirror.activeDownloads === 0, 'downloads to settle');
}

async function spoolFiles(cacheDir: string): Promise<string[]> {
  return readdir(join(cacheDir, 'tmp')).catch(() => []);
}

describe('upstream faults cost a clean error, never a corrupt cache entry', () => {
  const fixture = mirrorOverLoopback({ upstreamTimeoutMs: 800 });
  const { upstream } = fixture;

  test('upstream 503 on every try is a 502 UPSTREAM_ERROR and nothing is cached', async () => {
    const digest = upstream.addBlob(randomBytes(1000));
    upstream.setBehaviour(digest, { kind: 'status', status: 503 });
    const response = await fetch(`${fixture.mirror.url}/v2/app/blobs/${digest}`);
    assert.equal(response.status, 502);
    const body = (await response.json()) as { errors: { code: string }[] };
    assert.equal(body.errors[0]?.code, 'UPSTREAM_ERROR');
    assert.equal(upstream.blobGets(digest), 2, '503 is retried exactly once');
    await settle(fixture.mirror);
    assert.equal(await fixture.mirror.store.stat(parseDigest(digest)), undefined);
  });

  test('a body cut at 40% is never cached; the client sees a cut connection, not a short 200', async () => {
    const blob = randomBytes(512 * 1024);
    const digest = upstream.addBlob(blob);
    upstream.setBehaviour(digest, { kind: 'truncate', fraction: 0.4 });
    const response = await fetch(`${fixture.mirror.url}/v2/app/blobs/${digest}`);
    // The first try announces the size, so headers go out; the resume also breaks.
    const { bytes, complete } = await readBody(response);
    assert.ok(bytes.length < blob.length, 'the client did not receive the whole blob');
    await settle(fixture.mirror);
    assert.equal(await fixture.mirror.store.stat(parseDigest(digest)), undefined, 'nothing cached');
    // The spool is released asynchronously once the last reader closed.
    await waitUntil(async () => (await spoolFiles(fixture.mirror.cacheDir)).length === 0, 'no spool left behind');
    assert.ok(!complete, 'the client connection was cut');
  });

  test('a truncated body is resumed with a Range request when upstream recovers', async () => {
    const blob = randomBytes(512 * 1024);
    const digest = upstream.addBlob(blob);
    // Only the first request is cut: upstream has recovered by the time the mirror retries.
    upstream.setBehaviour(digest, { kind: 'truncate', fraction: 0.4 }, 1);
    const { bytes, complete } = await readBody(await fetch(`${fixture.mirror.url}/v2/app/blobs/${digest}`));
    assert.ok(complete);
    assert.equal(sha256(bytes), digest);
    const ranged = upstream.requests.filter((request) => request.path.endsWith(digest) && request.range);
    assert.ok(ranged.length >= 1, 'the second try resumed with Range');
    assert.match(ranged[0]?.range ?? '', /^bytes=[1-9]\d*-$/);
  });

  test('corrupt upstream bytes: the client never gets a complete body and nothing is cached', async () => {
    const blob = randomBytes(300 * 1024);
    const digest = upstream.addBlob(blob);
    upstream.setBehaviour(digest, { kind: 'corrupt' });
    const response = await fetch(`${fixture.mirror.url}/v2/app/blobs/${digest}`);
    const { bytes, complete } = await readBody(response);
    assert.ok(!complete, 'connection cut before the end');
    assert.ok(bytes.length < blob.length, 'the last byte was held back');
    await settle(fixture.mirror);
    assert.equal(await fixture.mirror.store.stat(parseDigest(digest)), undefined);
    upstream.setBehaviour(digest, { kind: 'normal' });
    const retry = await fetch(`${fixture.mirror.url}/v2/app/blobs/${digest}`);
    assert.equal(sha256(Buffer.from(await retry.arrayBuffer())), digest, 'a retry after upstream heals gets the right bytes');
  });

  test('a silent upstream costs a bounded delay and a 504', async () => {
    const digest = upstream.addBlob(randomBytes(100));
    upstream.setBehaviour(digest, { kind: 'hang' });
    const started = Date.now();
    const response = await fetch(`${fixture.mirror.url}/v2/app/blobs/${digest}`);
    assert.equal(response.status, 504);
    const body = (await response.json()) as { errors: { code: string }[] };
    assert.equal(body.errors[0]?.code, 'UPSTREAM_TIMEOUT');
    assert.ok(Date.now() - started < 8_000, 'bounded by the upstream timeout');
  });

  test('an unknown blob upstream is a 404 BLOB_UNKNOWN', async () => {
    const response = await fetch(`${fixture.mirror.url}/v2/app/blobs/sha256:${'0'.repeat(64)}`);
    assert.equal(response.status, 404);
    const body = (await response.json()) as { errors: { code: string }[] };
    assert.equal(body.errors[0]?.code, 'BLOB_UNKNOWN');
  });
});
