import { pino, type Logger } from 'pino';
import type { BlobStore } from '../../cache/blob-store.js';
import { CacacheBlobStore } from '../../cache/cacache-blob-store.js';
import { CacacheReferrersStore } from '../../cache/cacache-referrers-store.js';
import { CacacheTagStore } from '../../cache/cacache-tag-store.js';
import type { PeerSourceProvider } from '../../mirror/peer-source-provider.js';
import { PullThroughMirror } from '../../mirror/pull-through-mirror.js';
import { RegistryRouter } from '../../mirror/registry-router.js';
import type { SourcePace } from '../../mirror/source-pace.js';
import { createApp } from '../../server/create-app.js';
import type { ReadinessCheck } from '../../server/health.js';
import { HttpServer } from '../../server/http-server.js';
import type { ListenerLimits } from '../../server/server-lifecycle.js';
import { GotRegistryClient } from '../../upstream/got-registry-client.js';
import type { RegistryCredentials } from '../../upstream/registry-client.js';
import { makeTempDir } from './temp-dir.js';

export interface MirrorUnderTestOptions {
  /** Registry host → upstream URL; the first entry is the default upstream. */
  readonly upstreams: ReadonlyArray<{ registry: string; url: string; credentials?: RegistryCredentials }>;
  readonly cacheDir?: string;
  readonly tagTimeoutMs?: number;
  readonly upstreamTimeoutMs?: number;
  readonly peers?: PeerSourceProvider;
  readonly nodeId?: string;
  readonly logger?: Logger;
  /** Builds the store over the cache dir (default: a plain CacacheBlobStore). */
  readonly createStore?: (cacheDir: string, logger: Logger) => Promise<ClosableStore>;
  /** The listener's timeouts and connection cap (default: the server's defaults). */
  readonly limits?: ListenerLimits;
  /** Serves `/healthz` and `/readyz` when given. */
  readonly readiness?: readonly ReadinessCheck[];
  /** How fast blob sources must deliver (what `--download-stall-timeout` and friends set). */
  readonly pace?: SourcePace;
}

/** A store the fixture closes after the mirror, when it has something to close. */
export type ClosableStore = BlobStore & { close?(): Promise<void> };

/** One mirror, wired like the real node, listening on 127.0.0.1:0 with a temp cache. */
export interface MirrorUnderTest {
  readonly url: string;
  readonly hostPort: string;
  readonly cacheDir: string;
  readonly store: BlobStore;
  readonly mirror: PullThroughMirror;
  /** Connections the listener has open now. */
  openConnections(): number;
  close(options?: { keepCache?: boolean }): Promise<void>;
}

export async function startMirror(options: MirrorUnderTestOptions): Promise<MirrorUnderTest> {
  const temp = options.cacheDir ? undefined : await makeTempDir('cache');
  const cacheDir = options.cacheDir ?? temp?.path ?? '';
  const logger = options.logger ?? pino({ level: process.env.EDGEPIER_TEST_LOG ?? 'silent' });
  const clients = options.upstreams.map(
    (upstream) =>
      new GotRegistryClient({
        registry: upstream.registry,
        url: upstream.url,
        timeoutMs: options.upstreamTimeoutMs ?? 5_000,
        logger,
        ...(upstream.credentials ? { credentials: upstream.credentials } : {}),
      }),
  );
  const first = options.upstreams[0];
  if (!first) throw new Error('at least one upstream');
  const router = new RegistryRouter(clients, first.registry);
  const store: ClosableStore = options.createStore ? await options.createStore(cacheDir, logger) : new CacacheBlobStore(cacheDir);
  const mirror = new PullThroughMirror({
    store,
    tags: new CacacheTagStore(cacheDir),
    referrers: new CacacheReferrersStore(cacheDir),
    logger,
    tagTimeoutMs: options.tagTimeoutMs ?? 2_000,
    ...(options.peers ? { peers: options.peers } : {}),
    ...(options.pace ? { pace: options.pace } : {}),
  });
  const app = createApp({ mirror, router, logger, nodeId: options.nodeId ?? 'test-node', ...(options.readiness ? { readiness: options.readiness } : {}) });
  const server = new HttpServer(app, logger, options.limits);
  const address = await server.listen('127.0.0.1', 0);
  return {
    url: `http://127.0.0.1:${address.port}`,
    hostPort: `127.0.0.1:${address.port}`,
    cacheDir,
    store,
    mirror,
    openConnections: () => server.openConnections,
    async close(closeOptions = {}) {
      await server.close(1_000);
      mirror.abortAll('test over');
      await store.close?.();
      if (!closeOptions.keepCache) await temp?.remove();
    },
  };
}
