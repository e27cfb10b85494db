// One behavioural suite for every TagStore. Run by test/tag-store-contract.test.ts.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { TagLocation, TagStore } from '../../cache/tag-store.js';

export interface ContractTagStore {
  readonly store: TagStore;
  /** A second store on the same backing storage (a restart), for durable stores. */
  readonly reopen?: () => TagStore;
  close(): Promise<void>;
}

const location: TagLocation = { registry: 'docker.io', repository: 'library/alpine', tag: '3.20' };
const record = { digest: `sha256:${'a'.repeat(64)}`, mediaType: 'application/vnd.oci.image.index.v1+json', resolvedAt: 1_700_000_000_000 };

export function tagStoreContract(name: string, open: () => Promise<ContractTagStore>, options: { durable: boolean }): void {
  void describe(`TagStore contract: ${name}`, () => {
    const test = (title: string, body: (opened: ContractTagStore) => Promise<void>): void => {
      void it(title, async (t) => {
        const opened = await open();
        t.after(() => opened.close());
        await body(opened);
      });
    };

    test('an unknown tag is undefined', async ({ store }) => {
      assert.equal(await store.get(location), undefined);
    });

    test('a set record is got back exactly', async ({ store }) => {
      await store.set(location, record);
      assert.deepEqual(await store.get(location), record);
    });

    test('setting a tag again replaces its record', async ({ store }) => {
      await store.set(location, record);
      const moved = { digest: `sha256:${'b'.repeat(64)}`, mediaType: 'application/vnd.oci.image.manifest.v1+json', resolvedAt: record.resolvedAt + 60_000 };
      await store.set(location, moved);
      assert.deepEqual(await store.get(location), moved);
    });

    test('registry, repository and tag each tell records apart', async ({ store }) => {
      await store.set(location, record);
      for (const other of [
        { ...location, registry: 'ghcr.io' },
        { ...location, repository: 'library/alpine/sub' },
        { ...location, repository: 'library' },
        { ...location, tag: '3.2' },
        { ...location, tag: 'latest' },
      ]) {
        assert.equal(await store.get(other), undefined, JSON.stringify(other));
      }
    });

    if (options.durable) {
      test('a record outlives the store object (a restart on the same directory)', async (opened) => {
        await opened.store.set(location, record);
        assert.ok(opened.reopen, 'a durable store can be reopened');
        assert.deepEqual(await opened.reopen().get(location), record);
      });
    }
  });
}
