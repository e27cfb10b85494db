import { pino, type Logger } from 'pino';
import { BudgetedBlobStore, type RemovalReason } from '../../cache/budgeted-blob-store.js';
import type { CacheBudget } from '../../cache/cache-budget.js';
import { CacacheBlobStore } from '../../cache/cacache-blob-store.js';
import { CacacheTagStore } from '../../cache/cacache-tag-store.js';
import type { PinnedDigests } from '../../cache/pins.js';
import { UsageJournal } from '../../cache/usage-journal.js';
import { PullThroughMirror } from '../../mirror/pull-through-mirror.js';
import { RegistryRouter } from '../../mirror/registry-router.js';
import { createApp } from '../../server/create-app.js';
import { HttpServer } from '../../server/http-server.js';
import { GotRegistryClient } from '../../upstream/got-registry-client.js';
import { makeTempDir } from './temp-dir.js';

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
  const temp = options.cacheDir ? undefined : await makeTempDir('budget');
  const cacheDir = options.cacheDir ?? temp?.path ?? '';
  const logger = options.logger ?? pino({ level: process.env.EDGEPIER_TEST_LOG ?? 'silent' });
  const removed: Array<{ digest: string; reason: RemovalReason }> = [];
  const store = new BudgetedBlobStore({
    inner: new CacacheBlobStore(cacheDir),
    logger,
    journal: new UsageJournal(cacheDir),
    ...(options.budget ? { budget: options.budget } : {}),
    ...(options.pins ? { pins: options.pins } : {}),
    onRemoved: (digest, reason) => removed.push({ digest, reason }),
  });
  await store.load();
  const client = new GotRegistryClient({ registry: 'upstream.test', url: options.upstreamUrl, timeoutMs: 5_000, logger });
  const mirror = new PullThroughMirror({ store, tags: new CacacheTagStore(cacheDir), logger, tagTimeoutMs: 2_000 });
  const server = new HttpServer(createApp({ mirror, router: new RegistryRouter([client], 'upstream.test'), logger, nodeId: 'budget-test' }), logger);
  const address = await server.listen('127.0.0.1', 0);
  return {
    url: `http://127.0.0.1:${address.port}`,
    cacheDir,
    store,
    mirror,
    removed,
    async close(closeOptions = {}) {
      await server.close(1_000);
      mirror.abortAll('test over');
      await store.close();
      if (!closeOptions.keepCache) await temp?.remove();
    },
  };
}
