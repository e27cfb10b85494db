// Issue 15: upstream, when it is the last source left, is resumed on a fresh connection with
// Range after it stalls, trickles or is cut mid-blob (mirror/upstream-redial.ts), at most twice;
// what another connection would only repeat (wrong bytes, a wrong size, an HTTP error) is not.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { after, before, beforeEach, describe, test } from 'node:test';
import { pino, type Logger } from 'pino';
import { MemoryBlobStore } from '../cache/memory-blob-store.js';
import { BlobDownload } from '../mirror/blob-download.js';
import type { BlobSource, BlobSourceKind } from '../mirror/blob-source.js';
import type { SourcePace } from '../mirror/source-pace.js';
import { UPSTREAM_REDIALS } from '../mirror/upstream-redial.js';
import { parseDigest } from '../oci/digest.js';
import { RegistryError } from '../oci/registry-error.js';
import { ociErrorBody, ociErrorStatus } from '../server/oci-error-response.js';
import { GotRegistryClient } from '../upstream/got-registry-client.js';
import { LoopbackRegistry, type RecordedRequest } from './support/loopback-registry.js';
import { mirrorOverLoopback } from './support/mirror-over-loopback.js';
import { readBody } from './support/read-body.js';
import { waitUntil } from './support/wait-until.js';

const MiB = 1024 * 1024;
const sha256 = (bytes: Buffer): string => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
/** Short, as `--download-stall-timeout 400ms --download-min-rate 256KiB --download-rate-window 1s` would set. */
const PACE: SourcePace = { stallMs: 400, minBytesPerSecond: 256 * 1024, rateWindowMs: 1_000, hedgeAfterMs: 0 };
const NEVER = new Promise<void>(() => undefined);
const REDIAL_MESSAGE = 'upstream, the last source left, broke off: resuming on a fresh connection';

/** A logger whose lines the test reads back, parsed. */
function capturedLogger(): { logger: Logger; lines: () => Array<Record<string, unknown>> } {
  let text = '';
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      text += chunk.toString('utf8');
      done();
    },
  });
  const lines = (): Array<Record<string, unknown>> =>
    text
      .split('\n')
      .filter((line) => line.length > 0)
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  return { logger: pino({ level: 'warn' }, sink), lines };
}

function redials(lines: Array<Record<string, unknown>>): Array<Record<string, unknown>> {
  return lines.filter((line) => line.msg === REDIAL_MESSAGE);
}

function blobGets(registry: LoopbackRegistry, digest: string): RecordedRequest[] {
  return registry.requests.filter((request) => request.method === 'GET' && request.path.endsWith(`/blobs/${digest}`));
}

describe('through the mirror: upstream, the only source, breaking off mid-blob', () => {
  const log = capturedLogger();
  const fixture = mirrorOverLoopback({ pace: PACE, logger: log.logger });
  const { upstream } = fixture;
  let logged = 0;

  beforeEach(() => {
    logged = log.lines().length;
  });
  const linesOfThisTest = (): Array<Record<string, unknown>> => log.lines().slice(logged);

  test('stalls once at half: resumed on a fresh connection from the byte it stopped at, the pull completes', async () => {
    const blob = randomBytes(MiB);
    const digest = upstream.addBlob(blob);
    upstream.setBehaviour(digest, { kind: 'held', fraction: 0.5, until: NEVER }, 1);
    const { bytes, complete } = await readBody(await fetch(`${fixture.mirror.url}/v2/app/blobs/${digest}`));
    assert.ok(complete, 'the client got the whole body');
    assert.equal(sha256(bytes), digest, 'correct bytes');
    const gets = blobGets(upstream, digest);
    assert.equal(gets.length, 2, 'one more GET, no more');
    assert.equal(gets[0]?.range, undefined);
    assert.equal(gets[1]?.range, `bytes=${MiB / 2}-`, 'resumed from the bytes already spooled');
    assert.notEqual(gets[1]?.remotePort, gets[0]?.remotePort, 'on another connection');
    const [warned] = redials(linesOfThisTest());
    assert.equal(warned?.offset, MiB / 2);
    assert.equal(warned?.redial, 1);
    assert.match(String(warned?.reason), /no byte for \d+ ms/, 'the reason is in the warning');
    await waitUntil(() => fixture.mirror.mirror.activeDownloads === 0, 'the download to settle');
    assert.ok(await fixture.mirror.store.stat(parseDigest(digest)), 'verified and cached');
  });

  test('trickles under the floor once: resumed on a fresh connection, the pull completes', async () => {
    const blob = randomBytes(512 * 1024);
    const digest = upstream.addBlob(blob);
    // 2 KiB every 20 ms, about 100 KiB/s: never silent, under the 256 KiB/s floor.
    upstream.setBehaviour(digest, { kind: 'slow', chunk: 2048, intervalMs: 20 }, 1);
    const { bytes, complete } = await readBody(await fetch(`${fixture.mirror.url}/v2/app/blobs/${digest}`));
    assert.ok(complete);
    assert.equal(sha256(bytes), digest);
    const gets = blobGets(upstream, digest);
    assert.equal(gets.length, 2);
    const resumedAt = Number(/^bytes=(\d+)-$/.exec(gets[1]?.range ?? '')?.[1]);
    assert.ok(resumedAt > 0 && resumedAt < blob.length, `resumed mid-blob (${gets[1]?.range})`);
    assert.match(String(redials(linesOfThisTest())[0]?.reason), /below the floor/);
  });

  test('stalls on every connection: the pull fails after 1 + 2 connections, each resuming where the last stopped, nothing cached', async () => {
    const blob = randomBytes(MiB);
    const digest = upstream.addBlob(blob);
    // A quarter of what each connection was asked for, then silence.
    upstream.setBehaviour(digest, { kind: 'held', fraction: 0.25, until: NEVER });
    const started = Date.now();
    const response = await fetch(`${fixture.mirror.url}/v2/app/blobs/${digest}`);
    assert.equal(response.status, 200, 'the size was known, so headers went out with the first bytes');
    const { bytes, complete } = await readBody(response);
    assert.ok(!complete, 'the client connection was cut, not ended as if whole');
    assert.ok(bytes.length < blob.length);
    await waitUntil(() => fixture.mirror.mirror.activeDownloads === 0, 'the download to settle');
    const took = Date.now() - started;
    const gets = blobGets(upstream, digest);
    assert.equal(gets.length, 1 + UPSTREAM_REDIALS, 'bounded: the first connection and two fresh ones');
    assert.deepEqual(
      gets.map((request) => request.range),
      [undefined, `bytes=${MiB / 4}-`, `bytes=${MiB / 4 + (3 * MiB) / 16}-`],
      'each fresh connection asked only for what was missing',
    );
    assert.equal(new Set(gets.map((request) => request.remotePort)).size, 3, 'three connections');
    // Three stall windows (400 ms each) and nothing else: well under the 5 s upstream timeout.
    assert.ok(took < 4_000, `no hang (${took} ms)`);
    const lines = linesOfThisTest();
    assert.deepEqual(redials(lines).map((line) => line.redial), [1, 2]);
    const failed = lines.find((line) => line.msg === 'blob download failed; nothing cached');
    assert.match(String(failed?.err), /upstream broke off 3 times .*resumed on a fresh connection 2 times \(the last break: upstream: no byte for/);
    assert.equal(await fixture.mirror.store.stat(parseDigest(digest)), undefined, 'nothing cached');
  });

  test('cut mid-body on every connection: the same bound (1 + 2 connections)', async () => {
    const blob = randomBytes(512 * 1024);
    const digest = upstream.addBlob(blob);
    upstream.setBehaviour(digest, { kind: 'truncate', fraction: 0.4 });
    const { complete } = await readBody(await fetch(`${fixture.mirror.url}/v2/app/blobs/${digest}`));
    assert.ok(!complete);
    await waitUntil(() => fixture.mirror.mirror.activeDownloads === 0, 'the download to settle');
    assert.equal(blobGets(upstream, digest).length, 1 + UPSTREAM_REDIALS);
    assert.match(String(redials(linesOfThisTest())[0]?.reason), /ECONNRESET|aborted/);
    assert.equal(await fixture.mirror.store.stat(parseDigest(digest)), undefined);
  });
});

describe('BlobDownload: which breaks of the last source earn a fresh connection', () => {
  const upstream = new LoopbackRegistry();
  const log = capturedLogger();

  before(() => upstream.start());
  after(() => upstream.stop());

  function source(digest: string, kind: BlobSourceKind = 'upstream'): BlobSource {
    const client = new GotRegistryClient({ registry: 'upstream.test', url: upstream.url, timeoutMs: 5_000, logger: log.logger });
    return { kind, name: kind === 'upstream' ? 'upstream' : 'peer:only', open: (offset, signal) => client.fetchBlob('app', digest, { offset, signal }) };
  }

  async function download(digest: string, sources: BlobSource[], expectedSize: number): Promise<BlobDownload> {
    const store = new MemoryBlobStore();
    const writer = await store.createWriter(parseDigest(digest));
    return new BlobDownload(writer, sources, log.logger, { pace: PACE, expectedSize, reopen: () => store.createWriter(parseDigest(digest)) });
  }

  /** The error `finished` rejected with. */
  async function failure(running: BlobDownload): Promise<RegistryError> {
    const error = await running.finished.then(
      () => undefined,
      (rejected: unknown) => rejected,
    );
    assert.ok(error instanceof RegistryError, `a RegistryError, not ${String(error)}`);
    return error;
  }

  test('stalling on every connection ends in one clear 504 UPSTREAM_TIMEOUT after the bounded attempts', async () => {
    const blob = randomBytes(256 * 1024);
    const digest = upstream.addBlob(blob);
    upstream.setBehaviour(digest, { kind: 'held', fraction: 0.5, until: NEVER });
    const error = await failure(await download(digest, [source(digest)], blob.length));
    assert.equal(blobGets(upstream, digest).length, 3);
    assert.equal(error.code, 'UPSTREAM_TIMEOUT');
    assert.equal(ociErrorStatus(error), 504);
    const body = ociErrorBody(error);
    assert.equal(body.errors[0]?.code, 'UPSTREAM_TIMEOUT');
    assert.match(body.errors[0]?.message ?? '', new RegExp(`^upstream broke off 3 times for ${digest}, resumed on a fresh connection 2 times`));
  });

  test('a digest mismatch is not redialled, not even after a stall earned a fresh connection', async () => {
    const blob = randomBytes(256 * 1024);
    const digest = upstream.addBlob(blob);
    // The first connection stalls (a fresh one is fair), the second sends wrong bytes: that ends it.
    upstream.setBehaviourSequence(digest, [{ kind: 'held', fraction: 0.5, until: NEVER }, { kind: 'corrupt' }]);
    const before = redials(log.lines()).length;
    const error = await failure(await download(digest, [source(digest)], blob.length));
    assert.equal(error.code, 'UPSTREAM_ERROR');
    assert.match(error.message, /sent content that does not match/);
    assert.equal(blobGets(upstream, digest).length, 2, 'the stall earned one GET, the mismatch none');
    assert.equal(redials(log.lines()).length - before, 1);
  });

  test('a size that contradicts the known one is not redialled', async () => {
    const blob = randomBytes(256 * 1024);
    const digest = upstream.addBlob(blob);
    upstream.setBehaviour(digest, { kind: 'flood', prefix: 'junk', extra: 4 * MiB, contentLength: 'sent' });
    const error = await failure(await download(digest, [source(digest)], blob.length));
    assert.match(error.message, /announces \d+ bytes, the blob has 262144/);
    assert.equal(blobGets(upstream, digest).length, 1);
  });

  test('an HTTP error on the fresh connection ends the download: redials never loop on it', async () => {
    const blob = randomBytes(256 * 1024);
    const digest = upstream.addBlob(blob);
    upstream.setBehaviourSequence(digest, [{ kind: 'held', fraction: 0.5, until: NEVER }, { kind: 'status', status: 500 }]);
    const error = await failure(await download(digest, [source(digest)], blob.length));
    assert.equal(error.code, 'UPSTREAM_ERROR');
    assert.match(error.message, /HTTP 500/);
    assert.equal(blobGets(upstream, digest).length, 2);
  });

  test('a peer that is the last source and stalls is not redialled (only upstream is)', async () => {
    const blob = randomBytes(256 * 1024);
    const digest = upstream.addBlob(blob);
    upstream.setBehaviour(digest, { kind: 'held', fraction: 0.5, until: NEVER });
    const error = await failure(await download(digest, [source(digest, 'peer')], blob.length));
    assert.equal(error.code, 'UPSTREAM_TIMEOUT');
    assert.equal(blobGets(upstream, digest).length, 1);
  });
});
