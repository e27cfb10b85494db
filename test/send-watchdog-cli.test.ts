import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readdir, readlink } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { CacacheBlobStore } from '../cache/cacache-blob-store.js';
import { parseDigest } from '../oci/digest.js';
import { getFreePort, startProcess, waitForHttp } from './support/child-process.js';
import { makeTempDir } from './support/temp-dir.js';
import { waitUntil } from './support/wait-until.js';

const MiB = 1024 * 1024;
/** Far more than loopback's kernel buffers take from a client that never reads (about 4 MiB). */
const BLOB_BYTES = 32 * MiB;
const SEND_TIMEOUT_MS = 1_000;
/**
 * The watchdog sweeps every timeout/4, so a stall is seen up to 250 ms late and cut up to
 * 250 ms late; the rest is the time the server takes to fill the kernel's buffers (~4 MiB)
 * before the socket stalls at all, generous for a loaded CI machine.
 */
const MARGIN_MS = 3_000;

/** The socket inodes a process holds: the server's own view of its connections. */
async function socketsOf(pid: number): Promise<Set<string>> {
  const fds = await readdir(`/proc/${pid}/fd`);
  const links = await Promise.all(fds.map((fd) => readlink(`/proc/${pid}/fd/${fd}`).catch(() => '')));
  return new Set(links.filter((link) => link.startsWith('socket:')));
}

test('serve --send-timeout 1s: a real socket that never reads is closed by the server within the timeout plus margin', async (t) => {
  const cache = await makeTempDir('send-timeout-cli');
  t.after(() => cache.remove());
  const bytes = randomBytes(BLOB_BYTES);
  const digest = parseDigest(`sha256:${createHash('sha256').update(bytes).digest('hex')}`);
  const writer = await new CacacheBlobStore(cache.path).createWriter(digest);
  await writer.write(bytes);
  await writer.commit();
  await writer.abort();

  const port = await getFreePort();
  const cli = startProcess(
    process.execPath,
    [
      '--import', 'tsx', join(import.meta.dirname, '..', 'cli', 'main.ts'), 'serve',
      '--listen', `127.0.0.1:${port}`, '--peer-listen', '127.0.0.1:0', '--cache-dir', cache.path,
      '--upstream', 'http://127.0.0.1:9', '--no-mdns', '--send-timeout', `${SEND_TIMEOUT_MS}ms`,
    ],
    { name: 'edgepier-send-timeout' },
  );
  t.after(() => cli.stop({ deadlineMs: 2_000 }));
  await waitForHttp(`http://127.0.0.1:${port}/readyz`, { process: cli, deadlineMs: 20_000, accept: (status) => status === 200 });
  const idle = await socketsOf(cli.pid);

  let client: Socket | undefined;
  try {
    const sentAt = await new Promise<number>((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => {
        socket.pause();
        socket.write(`GET /v2/app/blobs/${digest.value} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
        resolve(Date.now());
      });
      socket.once('error', reject);
      client = socket;
    });
    const added = async (): Promise<string[]> => [...(await socketsOf(cli.pid))].filter((inode) => !idle.has(inode));
    await waitUntil(async () => (await added()).length === 1, 'the server to accept the never-reading client', 10_000);
    const [held] = await added();
    // Closed on the server: its socket is gone from the server's fd table (polled, with a deadline).
    await waitUntil(async () => !(await socketsOf(cli.pid)).has(held ?? ''), 'the server to close the stalled connection', SEND_TIMEOUT_MS + MARGIN_MS + 5_000);
    const closedAfter = Date.now() - sentAt;
    assert.ok(closedAfter >= SEND_TIMEOUT_MS, `closed after ${closedAfter} ms, before the ${SEND_TIMEOUT_MS} ms send timeout`);
    assert.ok(closedAfter <= SEND_TIMEOUT_MS + MARGIN_MS, `closed only after ${closedAfter} ms (send timeout ${SEND_TIMEOUT_MS} ms + ${MARGIN_MS} ms margin)`);
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    assert.match(metrics, /^edgepier_send_timeouts_total\{listener="client"\} 1$/m);

    // And the client, reading at last, gets what the kernel held and then the end: a cut
    // response, never the whole blob.
    const stalled = client;
    assert.ok(stalled);
    const received = await new Promise<number>((resolve, reject) => {
      let total = 0;
      const timer = setTimeout(() => reject(new Error('the cut connection never ended on the client')), 10_000);
      stalled.on('data', (chunk: Buffer) => (total += chunk.length));
      stalled.once('close', () => {
        clearTimeout(timer);
        resolve(total);
      });
      stalled.on('error', () => undefined);
      stalled.resume();
    });
    assert.ok(received < BLOB_BYTES, `the client got ${received} bytes: the whole blob, so nothing was cut`);
  } finally {
    client?.destroy();
  }
});
