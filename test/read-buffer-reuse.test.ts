import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { open, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { test } from 'node:test';
import { FileRangeReader } from '../cache/file-range-reader.js';
import { HoldBackVerifier } from '../cache/hold-back-verifier.js';
import { digestOf } from '../oci/digest.js';
import { startBudgetedMirror } from './support/budgeted-mirror.js';
import { LoopbackRegistry } from './support/loopback-registry.js';
import { sha256Digest } from './support/sha256.js';
import { makeTempDir } from './support/temp-dir.js';

const MiB = 1024 * 1024;

async function fileWith(t: { after(fn: () => Promise<void>): void }, bytes: Buffer): Promise<string> {
  const dir = await makeTempDir('read-reuse');
  t.after(() => dir.remove());
  const path = join(dir.path, 'blob');
  await writeFile(path, bytes);
  return path;
}

/** Copies every chunk as it arrives (what a socket does) and counts the distinct memory behind them. */
async function drainByCopy(stream: Readable): Promise<{ bytes: Buffer; chunks: number; buffers: number }> {
  const copies: Buffer[] = [];
  const memory = new Set<ArrayBufferLike>();
  for await (const chunk of stream) {
    const buffer = chunk as Buffer;
    memory.add(buffer.buffer);
    copies.push(Buffer.from(buffer));
  }
  return { bytes: Buffer.concat(copies), chunks: copies.length, buffers: memory.size };
}

test('a reader whose consumer wrote each chunk out reads the next one into the same memory', async (t) => {
  const bytes = randomBytes(12 * MiB);
  const path = await fileWith(t, bytes);
  const reader = new FileRangeReader(await open(path, 'r'), 0, bytes.length - 1, MiB, undefined, () => true);
  const { bytes: read, chunks, buffers } = await drainByCopy(reader);
  assert.ok(read.equals(bytes));
  // Small reads until 8 MiB were taken, then large ones: one buffer for each size.
  assert.ok(chunks > 100, `${chunks} chunks`);
  assert.equal(buffers, 2);
});

test('a reader whose consumer still holds its chunks never hands their memory out again', async (t) => {
  const bytes = randomBytes(3 * MiB);
  const path = await fileWith(t, bytes);
  const kept: Buffer[] = [];
  const reader = new FileRangeReader(await open(path, 'r'), 0, bytes.length - 1, MiB, undefined, () => false);
  for await (const chunk of reader) kept.push(chunk as Buffer);
  assert.ok(Buffer.concat(kept).equals(bytes), 'every chunk kept is still what was read');
  assert.equal(new Set(kept.map((chunk) => chunk.buffer)).size, kept.length);
});

test('the chunk a verifier holds back is not read over while it waits', async (t) => {
  const bytes = randomBytes(2 * MiB + 12_345);
  const path = await fileWith(t, bytes);
  // Without the size, the verifier holds every chunk until the next shows it was not the last.
  const downstream: { verifier?: HoldBackVerifier } = {};
  const reader = new FileRangeReader(await open(path, 'r'), 0, bytes.length - 1, MiB, undefined, () => downstream.verifier?.holdsNoChunk === true);
  const verifier = new HoldBackVerifier(reader, digestOf(bytes), undefined, () => undefined);
  downstream.verifier = verifier;
  const { bytes: served, buffers, chunks } = await drainByCopy(verifier);
  assert.ok(served.equals(bytes), 'no chunk was overwritten while held back');
  assert.equal(buffers, chunks, 'a held-back chunk is never free when the next read starts');
});

test('cached serves through the node reuse their read memory and every client, slow or fast, gets the blob', async (t) => {
  const upstream = new LoopbackRegistry();
  await upstream.start();
  t.after(() => upstream.stop());
  const node = await startBudgetedMirror({ upstreamUrl: upstream.url });
  t.after(() => node.close());
  const blob = randomBytes(24 * MiB);
  const digest = upstream.addBlob(blob);
  const url = `${node.url}/v2/app/blobs/${digest}`;
  assert.equal(sha256Digest(Buffer.from(await (await fetch(url)).arrayBuffer())), digest, 'the cold pull');
  // A slow client makes the server's writes go async (partial, queued in libuv): reuse must
  // then wait for them, or the queued bytes would be overwritten before the kernel took them.
  const slowRead = (): Promise<string> =>
    new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      const call = request(url, { agent: false }, (response) => {
        // Behind the pace of the server: once the kernel's buffers are full, most of its
        // writes are taken in part, the rest left queued on a pointer into the read buffer.
        response.on('data', (chunk: Buffer) => {
          chunks.push(chunk);
          response.pause();
          setTimeout(() => response.resume(), 1);
        });
        response.once('end', () => resolve(sha256Digest(Buffer.concat(chunks))));
        response.once('error', reject);
      });
      call.once('error', reject);
      call.setTimeout(60_000, () => call.destroy(new Error('slow client timed out')));
      call.end();
    });
  const fastRead = async (): Promise<string> => sha256Digest(Buffer.from(await (await fetch(url, { signal: AbortSignal.timeout(60_000) })).arrayBuffer()));
  // Read buffers are 64 KiB to 1 MiB (the bodies the clients join are 24 MiB): without reuse
  // each response would allocate 128 small and 16 large ones.
  const allocUnsafe = t.mock.method(Buffer, 'allocUnsafe');
  const digests = await Promise.all([slowRead(), slowRead(), fastRead(), fastRead()]);
  const readBuffers = allocUnsafe.mock.calls.filter((call) => Number(call.arguments[0]) >= 64 * 1024 && Number(call.arguments[0]) <= MiB).length;
  allocUnsafe.mock.restore();
  assert.deepEqual(digests, [digest, digest, digest, digest]);
  assert.ok(readBuffers <= 4 * 8, `${readBuffers} read buffers for 4 responses of 144 reads each`);
  assert.equal(upstream.blobGets(digest), 1, 'all four were served from the cache');
});
