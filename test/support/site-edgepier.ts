// The real EdgePier CLI running inside a site namespace, the way an operator starts it:
// `edgepier serve --listen 0.0.0.0:5000 --mdns-interface <LAN address> --upstream URL`, with
// its JSON log parsed as it arrives (peers up/down, blobs cached) for tests and the bench.
import { join } from 'node:path';
import type { SiteNamespace } from './netns.js';
import { NamespaceProcess } from './site-namespace-process.js';

const CLI = join(import.meta.dirname, '..', '..', 'cli', 'main.ts');
export const EDGEPIER_PORT = 5000;
/** The peer API's port (the default of --peer-listen). */
export const EDGEPIER_PEER_PORT = 5001;
// Generous: on a shared 2-core machine under load, eight tsx start-ups at once can take this long.
const START_DEADLINE_MS = 120_000;

export interface StartSiteEdgePierOptions {
  readonly nodeId: string;
  readonly upstream: string;
  readonly cacheDir: string;
  /** mDNS on this namespace's address (default true); false adds --no-mdns. */
  readonly mdns?: boolean;
  /** More CLI flags (e.g. `--tag-timeout 1s`). */
  readonly args?: readonly string[];
  /** Extra `node` flags (e.g. `--cpu-prof`). */
  readonly nodeArgs?: readonly string[];
  /** Who may use the client API besides loopback. Default: the whole site (198.18.0.0/15). */
  readonly clientAllow?: string;
  /** A site key file every member shares (--site-key-file); omitted: an open site. */
  readonly siteKeyFile?: string;
}

/** One `blob cached` log line: where a node got a blob from and how long it took. */
export interface CachedBlob {
  readonly digest: string;
  readonly bytes: number;
  readonly source: string;
  readonly ms: number;
  /** From the download's start to its first byte, when the node logged it. */
  readonly firstByteMs?: number;
  /** When the blob was committed (epoch ms, from the log line). */
  readonly at: number;
}

export interface SiteEdgePier {
  readonly nodeId: string;
  readonly namespace: SiteNamespace;
  /** `http://<LAN address>:5000`, as peers reach it. */
  readonly url: string;
  /** `127.0.0.1:5000`: what a client inside the namespace pulls from. */
  readonly localHost: string;
  readonly process: NamespaceProcess;
  /** Ids of the peers this node currently sees (from its `peer up` / `peer down` lines). */
  readonly peers: ReadonlySet<string>;
  readonly cached: readonly CachedBlob[];
  /** Lines at level warn or above. */
  readonly warnings: readonly string[];
  /** Lines at level error or above. */
  readonly errors: readonly string[];
  /** Waits until every id in `ids` is a live peer of this node. */
  waitForPeers(ids: readonly string[], deadlineMs?: number): Promise<void>;
  stop(): ReturnType<NamespaceProcess['stop']>;
}

interface LogLine {
  level?: number;
  msg?: string;
  peer?: string;
  digest?: string;
  bytes?: number;
  source?: string;
  ms?: number;
  firstByteMs?: number;
  time?: number;
}

export async function startSiteEdgePier(namespace: SiteNamespace, options: StartSiteEdgePierOptions): Promise<SiteEdgePier> {
  const peers = new Set<string>();
  const cached: CachedBlob[] = [];
  const warnings: string[] = [];
  const errors: string[] = [];
  const onLine = (line: string): void => {
    let entry: LogLine;
    try {
      entry = JSON.parse(line) as LogLine;
    } catch {
      return;
    }
    if ((entry.level ?? 0) >= 40) warnings.push(line);
    if ((entry.level ?? 0) >= 50) errors.push(line);
    if (entry.msg === 'peer up' && entry.peer) peers.add(entry.peer);
    if (entry.msg === 'peer down' && entry.peer) peers.delete(entry.peer);
    if (entry.msg === 'blob cached' && entry.digest) {
      cached.push({
        digest: entry.digest,
        bytes: entry.bytes ?? 0,
        source: entry.source ?? '?',
        ms: entry.ms ?? 0,
        at: entry.time ?? 0,
        ...(entry.firstByteMs !== undefined ? { firstByteMs: entry.firstByteMs } : {}),
      });
    }
  };
  const args = [
    ...(options.nodeArgs ?? []),
    '--import', 'tsx', CLI, 'serve',
    '--listen', `0.0.0.0:${EDGEPIER_PORT}`,
    // Site tests pull from other namespaces of the site too.
    '--client-allow', options.clientAllow ?? '198.18.0.0/15',
    ...(options.siteKeyFile ? ['--site-key-file', options.siteKeyFile] : []),
    '--cache-dir', options.cacheDir,
    '--upstream', options.upstream,
    '--node-id', options.nodeId,
    ...(options.mdns === false ? ['--no-mdns'] : ['--mdns-interface', namespace.address]),
    ...(options.args ?? []),
  ];
  const child = new NamespaceProcess(`edgepier ${options.nodeId}`, namespace.name, process.execPath, args, onLine);
  try {
    await child.waitForLine(/"msg":"listening"/, START_DEADLINE_MS);
  } catch (error) {
    await child.stop();
    throw error;
  }
  return {
    nodeId: options.nodeId,
    namespace,
    url: `http://${namespace.address}:${EDGEPIER_PORT}`,
    localHost: `127.0.0.1:${EDGEPIER_PORT}`,
    process: child,
    peers,
    cached,
    warnings,
    errors,
    async waitForPeers(ids, deadlineMs = 15_000) {
      const missing = (): boolean => ids.some((id) => !peers.has(id));
      if (!missing()) return;
      await child.waitFor(() => !missing(), `peers ${ids.join(', ')} (sees: ${[...peers].join(', ') || 'none'})`, deadlineMs);
    },
    stop: () => child.stop(),
  };
}

/** Waits until every node sees every other node (a full mDNS mesh). */
export async function waitForMesh(nodes: readonly SiteEdgePier[], deadlineMs = 20_000): Promise<void> {
  await Promise.all(nodes.map((node) => node.waitForPeers(nodes.filter((other) => other !== node).map((other) => other.nodeId), deadlineMs)));
}
