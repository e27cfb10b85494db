import type { Logger } from 'pino';
import { BudgetedBlobStore, type RemovalReason } from '../../cache/budgeted-blob-store.js';
import type { CacheBudget } from '../../cache/cache-budget.js';
import { CacacheBlobStore } from '../../cache/cacache-blob-store.js';
import type { PinnedDigests } from '../../cache/pins.js';
import { UsageJournal } from '../../cache/usage-journal.js';
import type { PullThroughMirror } from '../../mirror/pull-through-mirror.js';
import { startMirror } from './mirror-under-test.js';

export interface BudgetedMirrorOptions {
  readonly upstreamUrl: string;
  readonly cacheDir?: string;
  readonly budget?: CacheBudget;
  readonly pins?: PinnedDigests;
  readonly logger?: Logger;
}

/** A mirror wired as the node wires it (budgeted cacache store with a journal), on 127.0.0.1:0. */
export interface BudgetedMirror {
  readonly url: string;
  readonly cacheDir: string;
  readonly store: BudgetedBlobStore;
  readonly mirror: PullThroughMirror;
  readonly removed: Array<{ digest: string; reason: RemovalReason }>;
  close(options?: { keepCache?: boolean }): Promise<void>;
}

export async function startBudgetedMirror(options: BudgetedMirrorOptions): Promise<BudgetedMirror> {
  const removed: Array<{ digest: string; reason: RemovalReason }> = [];
  let store: BudgetedBlobStore | undefined;
  const mirror = await startMirror({
    upstreams: [{ registry: 'upstream.test', url: options.upstreamUrl }],
    ...(options.cacheDir ? { cacheDir: options.cacheDir } : {}),
    ...(options.logger ? { logger: options.logger } : {}),
    nodeId: 'budget-test',
    createStore: async (cacheDir, logger) => {
      store = new BudgetedBlobStore({
        inner: new CacacheBlobStore(cacheDir),
        logger,
        journal: new UsageJournal(cacheDir),
        ...(options.budget ? { budget: options.budget } : {}),
        ...(options.pins ? { pins: options.pins } : {}),
        onRemoved: (digest, reason) => removed.push({ digest, reason }),
      });
      await store.load();
      return store;
    },
  });
  if (!store) throw new Error('the mirror fixture did not build the budgeted store');
  return { url: mirror.url, cacheDir: mirror.cacheDir, store, mirror: mirror.mirror, removed, close: (closeOptions) => mirror.close(closeOptions) };
}
