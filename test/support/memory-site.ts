import { pino } from 'pino';
import { EdgePierNode } from '../../cli/edgepier-node.js';
import { loadConfig } from '../../config/load-config.js';
import { MemoryDiscovery, MemoryLan } from '../../discovery/memory-discovery.js';
import type { Agent } from 'node:https';
import { join } from 'node:path';
import { peerHttpsAgent } from '../../site/peer-tls.js';
import { loadSiteKey, writeNewSiteKey } from '../../site/site-key.js';
import { openHttpStream } from '../../upstream/open-http-stream.js';
import { makeTempDir } from './temp-dir.js';
import { waitUntil } from './wait-until.js';

export interface SiteNode {
  readonly id: string;
  /** The client API. */
  readonly url: string;
  /** The peer API (`https` with TLS-PSK on a keyed site). */
  readonly peerUrl: string;
  readonly node: EdgePierNode;
  /** Asks this node's peer API, as a member would, whether it holds `digest` itself. */
  holds(repository: string, digest: string): Promise<boolean>;
  /** A GET on this node's peer API as a member (TLS-PSK on a keyed site). */
  peerGet(path: string, headers: Record<string, string>): Promise<{ status: number; body: Buffer }>;
}

const PEER_TIMEOUTS = { connectMs: 2_000, responseMs: 5_000, idleMs: 5_000 };

export interface MemorySite {
  readonly lan: MemoryLan;
  readonly nodes: SiteNode[];
  close(): Promise<void>;
}

/**
 * Several real EdgePier nodes (the same composition root the CLI uses) in this process,
 * each on its own loopback port and cache, seeing each other through a MemoryLan instead
 * of multicast. Real HTTP between them, so peer calls are exercised as in the field.
 */
export async function startMemorySite(options: {
  nodes: number;
  upstreamUrl: string;
  args?: readonly string[];
  /** Per-node extra args, by index. */
  nodeArgs?: ReadonlyArray<readonly string[]>;
  lan?: MemoryLan;
  /** Give every node one site key (a keyed site: TLS-PSK between members). */
  siteKey?: boolean;
}): Promise<MemorySite> {
  const lan = options.lan ?? new MemoryLan();
  const nodes: SiteNode[] = [];
  const cleanups: Array<() => Promise<void>> = [];
  const logger = pino({ level: process.env.EDGEPIER_TEST_LOG ?? 'silent' });
  let keyArgs: string[] = [];
  let agent: Agent | undefined;
  if (options.siteKey) {
    const keyDir = await makeTempDir('site-key');
    cleanups.push(keyDir.remove);
    const keyFile = join(keyDir.path, 'site.key');
    await writeNewSiteKey(keyFile);
    keyArgs = ['--site-key-file', keyFile];
    agent = peerHttpsAgent(await loadSiteKey(keyFile), 'test-probe');
    const probeAgent = agent;
    cleanups.push(() => Promise.resolve(probeAgent.destroy()));
  }
  try {
    for (let index = 0; index < options.nodes; index += 1) {
      const cache = await makeTempDir(`site-${index + 1}`);
      cleanups.push(cache.remove);
      const id = `node-${index + 1}`;
      const loaded = loadConfig({
        argv: [
          '--listen', '127.0.0.1:0',
          '--cache-dir', cache.path,
          '--upstream', options.upstreamUrl,
          '--node-id', id,
          '--no-mdns',
          '--peer-timeout', '500ms',
          '--upstream-timeout', '2s',
          '--tag-timeout', '1s',
          '--peer-listen', '127.0.0.1:0',
          ...keyArgs,
          ...(options.args ?? []),
          ...(options.nodeArgs?.[index] ?? []),
        ],
        env: {},
      });
      if (!loaded.ok) throw new Error(`bad test config: ${JSON.stringify(loaded.problems)}`);
      const node = new EdgePierNode(loaded.config, logger, {
        discovery: ({ nodeId, url }) => new MemoryDiscovery({ lan, nodeId, url }),
      });
      await node.start();
      cleanups.unshift(() => node.close());
      const peerUrl = node.peerUrl;
      nodes.push({
        id,
        url: node.url,
        peerUrl,
        node,
        holds: async (repository, digest) => {
          const response = await openHttpStream(`${peerUrl}/v2/${repository}/blobs/${digest}`, {
            method: 'HEAD',
            headers: { 'x-edgepier-peer': 'probe' },
            timeouts: PEER_TIMEOUTS,
            httpsAgent: agent,
          });
          response.body.destroy();
          return response.statusCode === 200;
        },
        peerGet: async (path, headers) => {
          const response = await openHttpStream(`${peerUrl}${path}`, { method: 'GET', headers, timeouts: PEER_TIMEOUTS, httpsAgent: agent });
          const chunks: Buffer[] = [];
          for await (const chunk of response.body) chunks.push(chunk as Buffer);
          return { status: response.statusCode, body: Buffer.concat(chunks) };
        },
      });
    }
  } catch (error) {
    for (const cleanup of cleanups) await cleanup();
    throw error;
  }
  // MemoryLan delivers membership on the next macrotask, as a network would.
  await waitUntil(() => nodes.every(({ node }) => (node.peerDiscovery?.peers().length ?? 0) >= options.nodes - 1), 'site membership');
  return {
    lan,
    nodes,
    async close() {
      for (const cleanup of cleanups) await cleanup();
    },
  };
}
