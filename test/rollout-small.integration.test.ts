// The rollout benchmark in small (issue 4), as a correctness check: three EdgePier nodes in
// network namespaces, a real docker-registry behind a rate-limited WAN link, all three nodes
// pull a cold 3-layer image through their own EdgePier at the same moment. Every node gets
// byte-identical content, the cloud serves each blob exactly once, and the WAN link's own
// byte counters carry about one image. No timing is asserted.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { netnsUnavailableReason } from './support/netns.js';
import { waitForMesh, type SiteEdgePier } from './support/site-edgepier.js';
import { skopeoPullIn, verifyPulledDir } from './support/site-pull.js';
import { startSiteWithImage } from './support/site-with-image.js';

const skip = netnsUnavailableReason();
const NODES = 3;
const REFERENCE = 'rollout/small:v1';
/** Headers, TCP/IP framing and three small manifest GETs on top of the image itself. */
const WAN_BUDGET = 1.3;

void describe('small rollout through EdgePier', { skip: skip === undefined ? false : `needs network namespaces: ${skip}` }, () => {
  for (const keyed of [false, true]) test(`${NODES} nodes${keyed ? ' of a keyed site' : ' of an open site'} pull a cold image at once over a 20 Mbit/s WAN: identical bytes, each blob crosses the WAN once`, async (t) => {
    const site = await startSiteWithImage(t, { nodes: NODES, rate: '20mbit', reference: REFERENCE, layers: 3, layerSize: 1_300_000, seed: 'rollout-small' });
    const { wan, cloud, layout, image, workDir } = site;

    const nodes: SiteEdgePier[] = [];
    for (const [n, ns] of wan.nodes.entries()) nodes.push(await site.startNode(n + 1, ns, keyed ? { keyFile: site.siteKey } : {}));
    await waitForMesh(nodes);

    const before = await wan.wanCounters();
    const logStart = cloud.accessLog.length;
    const pulls = await Promise.all(nodes.map((node, n) => skopeoPullIn(node.namespace.name, node.localHost, REFERENCE, `${workDir}/pull${n}`)));
    const after = await wan.wanCounters();
    for (const pull of pulls) await verifyPulledDir(pull.dir, image);

    const gets = cloud.blobGets(logStart);
    assert.deepEqual([...gets.keys()].sort(), [...image.blobs.keys()].sort(), 'the cloud served exactly the image blobs');
    for (const [digest, byClient] of gets) {
      const total = [...byClient.values()].reduce((sum, count) => sum + count, 0);
      assert.equal(total, 1, `blob ${digest} crossed the WAN once (${JSON.stringify(Object.fromEntries(byClient))})`);
    }
    const wanBytes = after.toSite - before.toSite;
    const ratio = wanBytes / layout.totalBytes;
    t.diagnostic(`image ${layout.totalBytes} B, WAN to site ${wanBytes} B (${ratio.toFixed(3)}x), from site ${after.fromSite - before.fromSite} B`);
    assert.ok(ratio >= 1, `the WAN carried at least the image once (${ratio.toFixed(3)}x): counters work`);
    assert.ok(ratio <= WAN_BUDGET, `the WAN carried ${ratio.toFixed(3)}x the image, budget ${WAN_BUDGET}x`);
    for (const node of nodes) assert.deepEqual(node.errors, [], `${node.nodeId} logged no errors`);
  });
});
