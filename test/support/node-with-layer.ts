import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import { pino } from 'pino';
import { EdgePierNode } from '../../cli/edgepier-node.js';
import { loadConfig } from '../../config/load-config.js';
import { MemoryDiscovery, MemoryLan } from '../../discovery/memory-discovery.js';
import { LoopbackRegistry } from './loopback-registry.js';
import { makeTempDir } from './temp-dir.js';

/**
 * One real node on a MemoryLan, in front of a loopback upstream that holds one image of a
 * single layer. Everything it starts is stopped when the test ends.
 */
export async function startNodeWithLayer(
  t: TestContext,
  options: { nodeId: string; cacheMaxSize: string; repository: string; tag: string; layer: Buffer },
): Promise<{ node: EdgePierNode; lan: MemoryLan; layerDigest: string }> {
  const upstream = new LoopbackRegistry();
  const layerDigest = upstream.addBlob(options.layer);
  upstream.addManifest(options.repository, options.tag, { schemaVersion: 2, layers: [{ digest: layerDigest, size: options.layer.length }] });
  await upstream.start();
  t.after(() => upstream.stop());
  const cache = await makeTempDir(options.nodeId);
  t.after(() => cache.remove());
  const loaded = loadConfig({
    argv: ['--listen', '127.0.0.1:0', '--peer-listen', '127.0.0.1:0', '--cache-dir', cache.path, '--no-mdns', '--upstream', upstream.url, '--node-id', options.nodeId, '--cache-max-size', options.cacheMaxSize],
    env: {},
  });
  assert.ok(loaded.ok, JSON.stringify(loaded));
  const lan = new MemoryLan();
  const node = new EdgePierNode(loaded.config, pino({ level: 'silent' }), {
    discovery: ({ nodeId, port }) => new MemoryDiscovery({ lan, nodeId, url: `http://127.0.0.1:${port}` }),
  });
  await node.start();
  t.after(() => node.close());
  return { node, lan, layerDigest };
}
