import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createServer, get, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { Readable } from 'node:stream';
import { pino } from 'pino';
import type { BlobStore } from '../cache/blob-store.js';
import { BudgetedBlobStore } from '../cache/budgeted-blob-store.js';
import { CacacheBlobStore } from '../cache/cacache-blob-store.js';
import { CacacheReferrersStore } from '../cache/cacache-referrers-store.js';
import { CacacheTagStore } from '../cache/cacache-tag-store.js';
import { SMALL_READ_BYTES } from '../cache/paced-read-size.js';
import { PullThroughMirror } from '../mirror/pull-through-mirror.js';
import { RegistryRouter } from '../mirror/registry-router.js';
import type { Digest } from '../oci/digest.js';
import { createApp } from '../server/create-app.js';
import { GotRegistryClient } from '../upstream/got-registry-client.js';
import { commitBlob } from './support/commit-blob.js';
import { LoopbackRegistry } from './support/loopback-registry.js';
import { startMirror, type MirrorUnderTest } from './support/mirror-under-test.js';
import { rawRequest } from './support/raw-http.js';
import { makeTempDir } from './support/temp-dir.js';
import { waitUntil } from './support/wait-until.js';

const MiB = 1024 * 1024;
/** Far more than loopback's kernel buffers take from a client that never reads (about 4 MiB). */
const BLOB_BYTES = 32 * MiB;

/** Sends a blob GET and never reads a byte of the answer. */
function neverReadingClient(port: number, path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.pause();
      socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

/** Reads a whole blob and hashes it. */
function readBlob(url: string): Promise<{ status: number; sha256: string; bytes: number }> {
  return new Promise((resolve, reject) => {
    const request = get(url, { timeout: 20_000, agent: false }, (response) => {
      const hash = createHash('sha256');
      let bytes = 0;
      response.on('data', (chunk: Buffer) => {
        hash.update(chunk);
        bytes += chunk.length;
      });
      response.on('end', () => resolve({ status: response.statusCode ?? 0, sha256: hash.digest('hex'), bytes }));
      response.on('error', reject);
    });
    request.on('timeout', () => request.destroy(new Error('blob read timed out')));
    request.on('error', reject);
  });
}

describe('a client that stops reading is cut after the send timeout, others are still served', () => {
  const upstream = new LoopbackRegistry();
  let mirror: MirrorUnderTest;
  let digest: Digest;
  const body = randomBytes(BLOB_BYTES);
  const cuts: number[] = [];
  const SEND_TIMEOUT_MS = 600;

  before(async () => {
    await upstream.start();
    mirror = await startMirror({
      upstreams: [{ registry: 'upstream.test', url: upstream.url }],
      limits: { sendTimeoutMs: SEND_TIMEOUT_MS, idleTimeoutMs: 65_000, maxConnections: 64, onSendTimeout: () => cuts.push(Date.now()) },
    });
    digest = await commitBlob(mirror.store, body, MiB);
  });
  after(async () => {
    await mirror.close();
    await upstream.stop();
  });

  test('the stalled connection is closed by the server and counted; a reader gets every byte', async () => {
    const port = Number(new URL(mirror.url).port);
    const stalled = await neverReadingClient(port, `/v2/app/blobs/${digest.value}`);
    const startedAt = Date.now();
    try {
      await waitUntil(() => mirror.openConnections() === 1, 'the stalled client to be accepted');
      const read = await readBlob(`${mirror.url}/v2/app/blobs/${digest.value}`);
      assert.deepEqual(read, { status: 200, sha256: digest.hex, bytes: BLOB_BYTES });
      await waitUntil(() => cuts.length === 1, 'the send timeout to cut the stalled client', 10_000);
      const cutAfter = (cuts[0] ?? 0) - startedAt;
      assert.ok(cutAfter >= SEND_TIMEOUT_MS, `cut after ${cutAfter} ms, before the ${SEND_TIMEOUT_MS} ms timeout`);
      // The sweep runs every timeout/4: the cut lands within 1.25x the timeout plus the stall itself.
      assert.ok(cutAfter < SEND_TIMEOUT_MS * 4, `cut only after ${cutAfter} ms`);
      await waitUntil(() => mirror.openConnections() === 0, 'the cut connection to be closed on the server');
    } finally {
      stalled.destroy();
    }
  });

  test('a client that waits without anything queued for it is not cut (it is idle, not stalled)', async () => {
    const port = Number(new URL(mirror.url).port);
    const before = cuts.length;
    const idle = connect(port, '127.0.0.1');
    try {
      await new Promise<void>((resolve) => idle.once('connect', () => resolve()));
      await waitUntil(() => mirror.openConnections() === 1, 'the idle client to be accepted');
      // Four timeouts with nothing to send: the watchdog must leave it alone.
      const deadline = Date.now() + SEND_TIMEOUT_MS * 4;
      await waitUntil(() => Date.now() >= deadline || cuts.length > before, 'four send timeouts to pass', SEND_TIMEOUT_MS * 6);
      assert.equal(cuts.length, before);
      assert.equal(mirror.openConnections(), 1);
    } finally {
      idle.destroy();
    }
  });
});

describe('past --max-connections a request gets 503 UNAVAILABLE with Retry-After, not a dropped socket', () => {
  const upstream = new LoopbackRegistry();
  let mirror: MirrorUnderTest;
  let refused = 0;

  before(async () => {
    await upstream.start();
    mirror = await startMirror({
      upstreams: [{ registry: 'upstream.test', url: upstream.url }],
      limits: { sendTimeoutMs: 30_000, idleTimeoutMs: 65_000, maxConnections: 2, onRefused: () => (refused += 1) },
      readiness: [],
    });
  });
  after(async () => {
    await mirror.close();
    await upstream.stop();
  });

  test('the third connection is refused with exact OCI JSON; health still answers; a slot frees up', async () => {
    const port = Number(new URL(mirror.url).port);
    const holders = [connect(port, '127.0.0.1'), connect(port, '127.0.0.1')];
    try {
      await waitUntil(() => mirror.openConnections() === 2, 'two connections to fill the cap');
      const answer = await rawRequest(mirror.url, '/v2/');
      assert.equal(answer.status, 503);
      assert.equal(answer.headers['retry-after'], '1');
      assert.equal(answer.headers.connection, 'close');
      assert.equal(answer.headers['content-type'], 'application/json');
      assert.deepEqual(JSON.parse(answer.body), {
        errors: [{ code: 'UNAVAILABLE', message: 'too many connections: this node serves at most 2 at once; retry shortly', detail: { maxConnections: 2 } }],
      });
      assert.equal(refused, 1);
      const health = await rawRequest(mirror.url, '/healthz');
      assert.equal(health.status, 200);
    } finally {
      for (const holder of holders) holder.destroy();
    }
    await waitUntil(() => mirror.openConnections() === 0, 'the holders to be gone');
    const served = await rawRequest(mirror.url, '/v2/');
    assert.equal(served.status, 200);
    assert.equal(refused, 1);
  });
});

/** Sees every stream a store hands out, to weigh what each buffers. */
function recordingStore(inner: BlobStore, streams: Readable[]): BlobStore {
  return {
    stat: (d) => inner.stat(d),
    createReadStream: async (d, range) => {
      const stream = await inner.createReadStream(d, range);
      streams.push(stream);
      return stream;
    },
    createWriter: (d, options) => inner.createWriter(d, options),
    remove: (d) => inner.remove(d),
    list: () => inner.list(),
  };
}

for (const wiring of ['the bare cacache store', 'the budgeted store as the node wires it (every whole serve hashed)'] as const) describe(`memory per stalled connection is one small chunk, not a read-ahead buffer (${wiring})`, () => {
  const STALLED = 12;
  let server: Server;
  let port: number;
  let digest: Digest;
  const sockets: Socket[] = [];
  const streams: Readable[] = [];
  let cache: Awaited<ReturnType<typeof makeTempDir>>;

  before(async () => {
    cache = await makeTempDir('cache');
    const logger = pino({ level: 'silent' });
    const files = recordingStore(new CacacheBlobStore(cache.path), streams);
    // The budgeted store wraps each whole read in its hold-back verifier: both layers are weighed.
    const store = wiring === 'the bare cacache store' ? files : recordingStore(new BudgetedBlobStore({ inner: files, logger }), streams);
    digest = await commitBlob(store, randomBytes(BLOB_BYTES), MiB);
    const mirror = new PullThroughMirror({ store, tags: new CacacheTagStore(cache.path), referrers: new CacacheReferrersStore(cache.path), logger, tagTimeoutMs: 1_000 });
    const client = new GotRegistryClient({ registry: 'upstream.test', url: 'http://127.0.0.1:9', timeoutMs: 1_000, logger });
    const app = createApp({ mirror, router: new RegistryRouter([client], 'upstream.test'), logger, nodeId: 'test-node' });
    // A bare node server around the same app, so the test can see the server side of each socket.
    const handle = app.callback();
    server = createServer((request, response) => void handle(request, response));
    server.on('connection', (socket: Socket) => sockets.push(socket));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    port = (server.address() as AddressInfo).port;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await cache.remove();
  });

  test(`${STALLED} clients that never read hold at most one ${SMALL_READ_BYTES / 1024} KiB chunk each`, async () => {
    const clients = await Promise.all(Array.from({ length: STALLED }, () => neverReadingClient(port, `/v2/app/blobs/${digest.value}`)));
    try {
      const layers = wiring === 'the bare cacache store' ? 1 : 2;
      await waitUntil(() => streams.length === STALLED * layers, 'every client to get a blob stream');
      // Stalled: the kernel took all it will (its buffers are full) and our queue stopped moving.
      let last = '';
      let steadySince = Date.now();
      await waitUntil(
        () => {
          const mark = sockets.map((socket) => `${socket.bytesWritten}/${socket.writableLength}`).join(',');
          if (mark !== last) {
            last = mark;
            steadySince = Date.now();
          }
          return sockets.every((socket) => socket.writableLength > 0) && Date.now() - steadySince > 300;
        },
        'every connection to stall with bytes queued',
        15_000,
      );
      const queued = sockets.map((socket) => socket.writableLength);
      const readAhead = streams.map((stream) => stream.readableLength);
      // Headers plus one small chunk; before this change, 1 MiB queued plus 1 MiB read ahead.
      for (const bytes of queued) assert.ok(bytes <= SMALL_READ_BYTES + 1024, `a stalled socket queues ${bytes} bytes`);
      assert.deepEqual(readAhead, Array.from({ length: STALLED * layers }, () => 0));
    } finally {
      for (const client of clients) client.destroy();
    }
  });
});
