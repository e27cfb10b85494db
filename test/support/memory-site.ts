import { pino } from 'pino';
import { EdgePierNode } from '../../cli/edgepier-node.js';
import { loadConfig } from '../../config/load-config.js';
import { MemoryDiscovery, MemoryLan } from '../../discovery/memory-discovery.js';
import { makeTempDir } from './temp-dir.js';
import { waitUntil } from './wait-until.js';

export interface SiteNode {
  readonly id: string;
  readonly url: string;
  readonly node: EdgePierNode;
}

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
}): Promise<MemorySite> {
  const lan = options.lan ?? new MemoryLan();
  const nodes: SiteNode[] = [];
  const cleanups: Array<() => Promise<void>> = [];
  const logger = pino({ level: process.env.EDGEPIER_TEST_LOG ?? 'silent' });
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
          ...(options.args ?? []),
          ...(options.nodeArgs?.[index] ?? []),
        ],
        env: {},
      });
      if (!loaded.ok) throw new Error(`bad test config: ${JSON.stringify(loaded.problems)}`);
      const node = new EdgePierNode(loaded.config, logger, {
        discovery: ({ nodeId, port }) => new MemoryDiscovery({ lan, nodeId, url: `http://127.0.0.1:${port}` }),
      });
      await node.start();
      cleanups.unshift(() => node.close());
      nodes.push({ id, url: node.url, node });
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
