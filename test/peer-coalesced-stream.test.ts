// The peer client joins TLS's 16 KiB records into 64 KiB pieces without losing, reordering or
// hiding anything: bytes, errors and cancellation all pass through.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { PassThrough, Readable } from 'node:stream';
import { describe, test } from 'node:test';
import { coalesced } from '../peer/coalesced-stream.js';

describe('coalesced peer streams', () => {
  test('16 KiB records come out as 64 KiB pieces, the rest at the end, every byte in order', async () => {
    const records = Array.from({ length: 10 }, () => randomBytes(16 * 1024));
    const pieces: Buffer[] = [];
    for await (const piece of coalesced(Readable.from(records))) pieces.push(piece as Buffer);
    assert.deepEqual(pieces.map((piece) => piece.length), [64 * 1024, 64 * 1024, 32 * 1024]);
    assert.deepEqual(Buffer.concat(pieces), Buffer.concat(records));
  });

  test("a source's error reaches the reader", async () => {
    const source = new PassThrough();
    const joined = coalesced(source);
    source.write(randomBytes(1024));
    source.destroy(new Error('peer reset'));
    await assert.rejects(async () => {
      for await (const piece of joined) void piece;
    }, /peer reset/);
  });

  test('cancelling the reader closes the source', async () => {
    const source = new PassThrough();
    const joined = coalesced(source);
    joined.destroy();
    await once(source, 'close');
    assert.equal(source.destroyed, true);
  });
});
