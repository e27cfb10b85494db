// Issue 3 "Show": three EdgePier nodes (the real CLI) in network namespaces on one bridge,
// mDNS on, no static peers, a real docker-registry as the cloud in a fourth namespace behind
// the site router. Node 1 pulls an image with skopeo; then the cloud drops every packet from
// nodes 2 and 3, which start afterwards, find node 1 through mDNS alone, resolve the tag from
// it and pull the same image by tag, byte-identical. The registry's access log proves that
// every blob crossed the WAN once, to node 1.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { netnsUnavailableReason } from './support/netns.js';
import { waitForMesh, type SiteEdgePier } from './support/site-edgepier.js';
import { skopeoPullIn, verifyPulledDir } from './support/site-pull.js';
import { startSiteWithImage } from './support/site-with-image.js';

const skip = netnsUnavailableReason();
const REFERENCE = 'site/app:v1';
// Upstream-unreachable must be noticed fast: the tag lookup gives up after 1 s.
const NODE_ARGS = ['--tag-timeout', '1s', '--upstream-timeout', '2s', '--peer-timeout', '2s'];

void describe('a site found through mDNS alone', { skip: skip === undefined ? false : `needs network namespaces: ${skip}` }, () => {
  test('nodes 2 and 3, cut off from the cloud, pull by tag what node 1 pulled; the cloud served each blob once, to node 1', async (t) => {
    const site = await startSiteWithImage(t, { nodes: 3, reference: REFERENCE, layers: 3, layerSize: 600_000, seed: 'site-multicast' });
    const { wan, cloud, image, workDir } = site;

    const [ns1, ns2, ns3] = wan.nodes;
    assert.ok(ns1 && ns2 && ns3);
    const nodes: SiteEdgePier[] = [];
    const start = async (n: number, ns: typeof ns1): Promise<SiteEdgePier> => {
      // Offline tag resolution is for members only: the site has a key.
      const node = await site.startNode(n, ns, { keyFile: site.siteKey, args: NODE_ARGS });
      nodes.push(node);
      return node;
    };

    // Node 1 alone: it pulls from the cloud.
    const node1 = await start(1, ns1);
    const first = await skopeoPullIn(ns1.name, node1.localHost, REFERENCE, `${workDir}/pull1`);
    await verifyPulledDir(first.dir, image);
    const pushLog = cloud.accessLog.filter((record) => record.client.startsWith('127.')).length;

    // The WAN goes down for nodes 2 and 3, which then join the site.
    await wan.cutCloudFrom([ns2.address, ns3.address]);
    const node2 = await start(2, ns2);
    const node3 = await start(3, ns3);
    await waitForMesh(nodes);

    const pulls = await Promise.all([
      skopeoPullIn(ns2.name, node2.localHost, REFERENCE, `${workDir}/pull2`),
      skopeoPullIn(ns3.name, node3.localHost, REFERENCE, `${workDir}/pull3`),
    ]);
    for (const pull of pulls) await verifyPulledDir(pull.dir, image);

    // Every blob crossed the WAN exactly once, to node 1; nodes 2 and 3 never got through.
    const gets = cloud.blobGets();
    assert.deepEqual([...gets.keys()].sort(), [...image.blobs.keys()].sort(), 'the cloud served exactly the image blobs');
    for (const [digest, byClient] of gets) {
      assert.deepEqual(Object.fromEntries(byClient), { [ns1.address]: 1 }, `blob ${digest}: one GET, from node 1`);
    }
    const siteClients = new Set(cloud.accessLog.map((record) => record.client));
    assert.ok(!siteClients.has(ns2.address) && !siteClients.has(ns3.address), `the cloud never heard from nodes 2/3: ${[...siteClients].join(', ')}`);
    assert.ok(cloud.accessLog.length > pushLog, 'node 1 did talk to the cloud');
    assert.ok((await wan.droppedAtCloud()) > 0, 'nodes 2/3 did try the cloud (their packets were dropped)');
    for (const node of [node2, node3]) {
      assert.ok(node.cached.length >= image.blobs.size, `${node.nodeId} cached the blobs: ${JSON.stringify(node.cached)}`);
      for (const blob of node.cached) assert.equal(blob.source.startsWith('peer'), true, `${node.nodeId} got ${blob.digest} from ${blob.source}`);
      assert.ok(
        node.warnings.some((line) => line.includes('tag resolved by a peer')),
        `${node.nodeId} resolved the tag through a peer:\n${node.process.diagnostics()}`,
      );
    }
    for (const node of nodes) {
      const exit = await node.stop();
      assert.equal(exit.code, 0, `${node.nodeId} exits cleanly on SIGTERM:\n${node.process.diagnostics()}`);
    }
  });
});
