// The TagStore contract (test/support/tag-store-contract.ts) against the in-memory fake and
// cacache on a real temp directory.
import { CacacheTagStore } from '../cache/cacache-tag-store.js';
import { MemoryTagStore } from '../cache/memory-tag-store.js';
import { tagStoreContract } from './support/tag-store-contract.js';
import { makeTempDir } from './support/temp-dir.js';

tagStoreContract('MemoryTagStore', () => Promise.resolve({ store: new MemoryTagStore(), close: () => Promise.resolve() }), { durable: false });

tagStoreContract('CacacheTagStore (temp directory)', async () => {
  const dir = await makeTempDir('tag-contract');
  return { store: new CacacheTagStore(dir.path), reopen: () => new CacacheTagStore(dir.path), close: () => dir.remove() };
}, { durable: true });
