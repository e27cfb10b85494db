// The rollout benchmark in small (issue 4), as a correctness check: three EdgePier nodes in
// network namespaces, a real docker-registry behind a rate-limited WAN link, all three nodes
// pull a cold 3-layer image through their own EdgePier at the same moment. Every node gets
// byte-identical content, the cloud serves each blob exactly once, and the WAN link's own
// byte counters carry about one image. No timing is asserted.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { writeNewSiteKey } from '../site/site-key.js';
import { netnsUnavailableReason } from './support/netns.js';
import { startCloudRegistry } from './support/site-cloud-registry.js';
import { startSiteEdgePier, waitForMesh, type SiteEdgePier } from './support/site-edgepier.js';
import { expectedImage, skopeoPullIn, verifyPulledDir } from './support/site-pull.js';
import { createWanSite } from './support/site-wan.js';
import { makeTempDir } from './support/temp-dir.js';
import { buildImage } from './support/test-image.js';

const skip = netnsUnavailableReason();
const NODES = 3;
const REFERENCE = 'rollout/small:v1';
/** Headers, TCP/IP framing and three small manifest GETs on top of the image itself. */
const WAN_BUDGET = 1.3;

void describe('small rollout through EdgePier', { skip: skip === undefined ? false : `needs network namespaces: ${skip}` }, () => {
  for (const keyed of [false, true]) test(`${NODES} nodes${keyed ? ' of a keyed site' : ' of an open site'} pull a cold image at once over a 20 Mbit/s WAN: identical bytes, each blob crosses the WAN once`, async (t) => {
    const cleanups: (() => Promise<unknown>)[] = [];
    t.after(async () => {
      for (const cleanup of cleanups.reverse()) await cleanup().catch((error: unknown) => t.diagnostic(`cleanup: ${String(error)}`));
    });
    const wan = await createWanSite({ nodes: NODES, rate: '20mbit' });
    cleanups.push(() => wan.destroy());
    const cloud = await startCloudRegistry(wan);
    cleanups.push(() => cloud.stop());
    const layout = await buildImage({ layers: 3, layerSize: 1_300_000, seed: 'rollout-small' });
    cleanups.push(() => layout.cleanup());
    await cloud.push(layout, REFERENCE);
    const image = expectedImage(layout);
    const work = await makeTempDir('rollout-small');
    cleanups.push(() => work.remove());
    const siteKeyFile = `${work.path}/site.key`;
    if (keyed) await writeNewSiteKey(siteKeyFile);

    const nodes: SiteEdgePier[] = [];
    for (const [n, ns] of wan.nodes.entries()) {
      const node = await startSiteEdgePier(ns, { nodeId: `node${n + 1}`, upstream: cloud.url, cacheDir: `${work.path}/cache${n}`, ...(keyed ? { siteKeyFile } : {}) });
      nodes.push(node);
      cleanups.push(() => node.stop());
    }
    await waitForMesh(nodes);

    const before = await wan.wanCounters();
    const logStart = cloud.accessLog.length;
    const pulls = await Promise.all(nodes.map((node, n) => skopeoPullIn(node.namespace.name, node.localHost, REFERENCE, `${work.path}/pull${n}`)));
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
