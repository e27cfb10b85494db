// One behavioural suite for every BlobStore (undici's cacheStoreTests(Store)): whatever the
// layers above may rely on, asserted the same way against each implementation. Run by
// test/blob-store-contract.test.ts.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { errorCode, type BlobStore, type StoredBlob } from '../../cache/blob-store.js';
import { digestOf, type Digest } from '../../oci/digest.js';

export interface ContractStore {
  readonly store: BlobStore;
  close(): Promise<void>;
}

/** A contract test an implementation is known to fail, with the reason: it runs as `todo`. */
export type KnownDrift = Readonly<Record<string, string>>;

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function put(store: BlobStore, bytes: Buffer, mediaType?: string): Promise<{ digest: Digest; stored: StoredBlob }> {
  const digest = digestOf(bytes);
  const writer = await store.createWriter(digest, mediaType ? { mediaType } : {});
  try {
    await writer.write(bytes);
    return { digest, stored: await writer.commit() };
  } finally {
    await writer.abort();
  }
}

/**
 * What every store must agree on about a blob. `mtimeMs` is left out: a store that keeps
 * files may report it (rot detection), one that keeps memory has none.
 */
function facts(blob: StoredBlob | undefined): StoredBlob | undefined {
  if (blob === undefined) return undefined;
  const { mtimeMs: _mtimeMs, ...rest } = blob;
  return rest;
}

async function listed(store: BlobStore): Promise<StoredBlob[]> {
  const all: StoredBlob[] = [];
  for await (const blob of store.list()) all.push(facts(blob) ?? blob);
  return all.sort((a, b) => a.digest.localeCompare(b.digest));
}

async function statFacts(store: BlobStore, digest: Digest): Promise<StoredBlob | undefined> {
  return facts(await store.stat(digest));
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  assert.fail('expected a rejection');
}


export function blobStoreContract(name: string, open: () => Promise<ContractStore>, drift: KnownDrift = {}): void {
  void describe(`BlobStore contract: ${name}`, () => {
    /** Each test gets a fresh, empty store, closed when it ends. */
    const test = (title: string, body: (store: BlobStore) => Promise<void>): void => {
      const todo = drift[title];
      void it(title, todo === undefined ? {} : { todo }, async (t) => {
        const opened = await open();
        t.after(() => opened.close());
        await body(opened.store);
      });
    };

    test('an unknown digest: stat is undefined, a read rejects with ENOENT, the listing is empty', async (store) => {
      const digest = digestOf(Buffer.from('never stored'));
      assert.equal(await store.stat(digest), undefined);
      assert.equal(errorCode(await rejection(store.createReadStream(digest))), 'ENOENT');
      assert.deepEqual(await listed(store), []);
    });

    test('an unknown digest read with a range also rejects with ENOENT', async (store) => {
      const digest = digestOf(Buffer.from('never stored either'));
      assert.equal(errorCode(await rejection(store.createReadStream(digest, { start: 1, end: 4 }))), 'ENOENT');
    });

    test('a committed blob is stat-ed, read back byte for byte and listed, with its media type', async (store) => {
      const bytes = randomBytes(70_000);
      const mediaType = 'application/vnd.oci.image.manifest.v1+json';
      const { digest, stored } = await put(store, bytes, mediaType);
      const expected = { digest: digest.value, size: bytes.length, mediaType };
      assert.deepEqual(facts(stored), expected, 'commit() returns what stat() will');
      assert.deepEqual(await statFacts(store, digest), expected);
      const stream = await store.createReadStream(digest);
      assert.equal(stream.readableObjectMode, false, 'a byte stream, not an object stream');
      assert.deepEqual(await readAll(stream), bytes);
      assert.deepEqual(await listed(store), [expected]);
    });

    test('a blob stored without a media type has no mediaType field', async (store) => {
      const { digest } = await put(store, randomBytes(100));
      assert.deepEqual(Object.keys((await statFacts(store, digest)) ?? {}).sort(), ['digest', 'size']);
      assert.deepEqual(Object.keys((await listed(store))[0] ?? {}).sort(), ['digest', 'size']);
    });

    test('an empty blob is a blob like any other', async (store) => {
      const { digest } = await put(store, Buffer.alloc(0));
      assert.deepEqual(await statFacts(store, digest), { digest: digest.value, size: 0 });
      assert.deepEqual(await readAll(await store.createReadStream(digest)), Buffer.alloc(0));
    });

    test('a range read returns exactly bytes start..end (inclusive)', async (store) => {
      const bytes = randomBytes(10_000);
      const { digest } = await put(store, bytes);
      assert.deepEqual(await readAll(await store.createReadStream(digest, { start: 1000, end: 1999 })), bytes.subarray(1000, 2000));
      assert.deepEqual(await readAll(await store.createReadStream(digest, { start: 9_999, end: 9_999 })), bytes.subarray(9_999));
      assert.deepEqual(await readAll(await store.createReadStream(digest, { start: 0, end: 9_999 })), bytes);
    });

    test('bytes can be read back through the writer while it grows, and after commit until abort', async (store) => {
      const bytes = randomBytes(50_000);
      const digest = digestOf(bytes);
      const writer = await store.createWriter(digest);
      try {
        assert.equal(writer.digest.value, digest.value);
        await writer.write(bytes.subarray(0, 20_000));
        assert.equal(writer.bytesWritten, 20_000);
        assert.deepEqual(await writer.read(5_000, 1_000), bytes.subarray(5_000, 6_000));
        assert.deepEqual(await writer.read(19_000, 5_000), bytes.subarray(19_000, 20_000), 'never past what was written');
        assert.equal((await writer.read(20_000, 10)).length, 0);
        assert.equal(await store.stat(digest), undefined, 'nothing is visible before commit');
        await writer.write(bytes.subarray(20_000));
        assert.equal(writer.bytesWritten, bytes.length);
        await writer.commit();
        assert.deepEqual(await writer.read(0, bytes.length), bytes, 'followers finish reading after commit');
      } finally {
        await writer.abort();
      }
      assert.deepEqual(await readAll(await store.createReadStream(digest)), bytes, 'abort after commit keeps the blob');
    });

    test('bytes that do not match the digest: commit rejects with EINTEGRITY and nothing is stored', async (store) => {
      const digest = digestOf(Buffer.from('the real content'));
      const writer = await store.createWriter(digest);
      try {
        await writer.write(Buffer.from('something else'));
        assert.equal(errorCode(await rejection(writer.commit())), 'EINTEGRITY');
      } finally {
        await writer.abort();
      }
      assert.equal(await store.stat(digest), undefined);
      assert.equal(errorCode(await rejection(store.createReadStream(digest))), 'ENOENT');
      assert.deepEqual(await listed(store), []);
    });

    test('a writer aborted before commit leaves nothing behind', async (store) => {
      const bytes = randomBytes(1000);
      const digest = digestOf(bytes);
      const writer = await store.createWriter(digest);
      await writer.write(bytes);
      await writer.abort();
      await writer.abort();
      assert.equal(await store.stat(digest), undefined);
      assert.deepEqual(await listed(store), []);
    });

    test('two writers of the same digest both commit; the blob is stored once', async (store) => {
      const bytes = randomBytes(30_000);
      const digest = digestOf(bytes);
      const writers = await Promise.all([store.createWriter(digest), store.createWriter(digest)]);
      try {
        for (const writer of writers) await writer.write(bytes);
        for (const writer of writers) await writer.commit();
      } finally {
        for (const writer of writers) await writer.abort();
      }
      assert.deepEqual(await listed(store), [{ digest: digest.value, size: bytes.length }]);
      assert.deepEqual(await readAll(await store.createReadStream(digest)), bytes);
    });

    test('remove makes a blob unknown again; removing an unknown blob is not an error', async (store) => {
      const kept = await put(store, randomBytes(500));
      const { digest } = await put(store, randomBytes(600));
      await store.remove(digest);
      assert.equal(await store.stat(digest), undefined);
      assert.equal(errorCode(await rejection(store.createReadStream(digest))), 'ENOENT');
      assert.deepEqual(await listed(store), [facts(kept.stored)]);
      await store.remove(digest);
      await store.remove(digestOf(Buffer.from('never stored')));
    });

    test('sha512 content is stored and verified like sha256', async (store) => {
      const bytes = randomBytes(2000);
      const digest = digestOf(bytes, 'sha512');
      const writer = await store.createWriter(digest);
      try {
        await writer.write(bytes);
        await writer.commit();
      } finally {
        await writer.abort();
      }
      assert.deepEqual(await statFacts(store, digest), { digest: digest.value, size: bytes.length });
      assert.deepEqual(await readAll(await store.createReadStream(digest)), bytes);
    });
  });
}
