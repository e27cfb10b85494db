// The swarm on a real site (issue 16): four EdgePier nodes in network namespaces, a real
// docker-registry behind a 20 Mbit/s WAN, skopeo pulling through each node at once, the
// relay tree a chain (--swarm-fan-out 1). A node that is not the layer's owner passes the
// layer on to the next node as it arrives, the cloud serves each blob once, and a relay
// SIGKILLed mid-stream costs its child a resume at the next ancestor, not a failed pull.
import assert from 'node:assert/strict';
import { after, before, describe, test, type TestContext } from 'node:test';
import { swarmPlace } from '../peer/swarm-tree.js';
import { netnsUnavailableReason } from './support/netns.js';
import { startCloudRegistry, type CloudRegistry } from './support/site-cloud-registry.js';
import { startSiteEdgePier, waitForMesh, type SiteEdgePier } from './support/site-edgepier.js';
import { expectedImage, skopeoPullIn, verifyPulledDir, type ExpectedImage } from './support/site-pull.js';
import { createWanSite, type WanSite } from './support/site-wan.js';
import { makeTempDir } from './support/temp-dir.js';
import { buildImage } from './support/test-image.js';

const skip = netnsUnavailableReason();
const NODES = 4;
const REFERENCE = 'swarm/one-layer:v1';
/** 8 MB over 20 Mbit/s: about 3 s in flight, long enough to kill a relay in the middle. */
const LAYER_BYTES = 8_000_000;
const KILL_AT = 0.4;
const POLL_MS = 50;

interface Site {
  readonly wan: WanSite;
  readonly cloud: CloudRegistry;
  readonly image: ExpectedImage;
  readonly layer: string;
  readonly work: string;
}

async function startNodes(site: Site, run: string, t: TestContext): Promise<{ nodes: SiteEdgePier[]; places: ReturnType<typeof swarmPlace>[] }> {
  const nodes: SiteEdgePier[] = [];
  for (const [n, ns] of site.wan.nodes.entries()) {
    const node = await startSiteEdgePier(ns, { nodeId: `${run}${n}`, upstream: site.cloud.url, cacheDir: `${site.work}/${run}-cache${n}`, args: ['--swarm-fan-out', '1'] });
    nodes.push(node);
    t.after(() => node.stop());
  }
  await waitForMesh(nodes);
  const ids = nodes.map((node) => node.nodeId);
  return { nodes, places: ids.map((id) => swarmPlace(site.layer, id, ids, 1)) };
}

function assertEachBlobOnce(cloud: CloudRegistry, from: number, image: ExpectedImage): void {
  const gets = cloud.blobGets(from);
  assert.deepEqual([...gets.keys()].sort(), [...image.blobs.keys()].sort(), 'the cloud served exactly the image blobs');
  for (const [digest, byClient] of gets) {
    const total = [...byClient.values()].reduce((sum, count) => sum + count, 0);
    assert.equal(total, 1, `blob ${digest} crossed the WAN once (${JSON.stringify(Object.fromEntries(byClient))})`);
  }
}

void describe('the swarm on a real site', { skip: skip === undefined ? false : `needs network namespaces: ${skip}` }, () => {
  let site: Site;
  const cleanups: (() => Promise<unknown>)[] = [];

  before(async () => {
    const wan = await createWanSite({ nodes: NODES, rate: '20mbit' });
    cleanups.push(() => wan.destroy());
    const cloud = await startCloudRegistry(wan);
    cleanups.push(() => cloud.stop());
    const layout = await buildImage({ layers: 1, layerSize: LAYER_BYTES, seed: 'swarm-site' });
    cleanups.push(() => layout.cleanup());
    await cloud.push(layout, REFERENCE);
    const image = expectedImage(layout);
    const work = await makeTempDir('swarm-site');
    cleanups.push(() => work.remove());
    const layer = [...image.blobs].sort((a, b) => b[1].length - a[1].length)[0]?.[0] ?? assert.fail('no layer');
    site = { wan, cloud, image, layer, work: work.path };
  });
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  test('four nodes pull at once: a non-owner relays the layer to the next node, each blob crosses the WAN once', async (t) => {
    const { nodes, places } = await startNodes(site, 'r', t);
    const logStart = site.cloud.accessLog.length;
    const pulls = await Promise.all(nodes.map((node, n) => skopeoPullIn(node.namespace.name, node.localHost, REFERENCE, `${site.work}/r-pull${n}`)));
    for (const pull of pulls) await verifyPulledDir(pull.dir, site.image);
    assertEachBlobOnce(site.cloud, logStart, site.image);
    const owner = nodes[places.findIndex((place) => place.position === 0)]?.nodeId;
    const servedBy = nodes.map((node) => node.cached.find((blob) => blob.digest === site.layer)?.source ?? 'none');
    t.diagnostic(`owner ${owner}; layer sources: ${nodes.map((node, n) => `${node.nodeId}←${servedBy[n]}`).join(', ')}`);
    const relayed = servedBy.filter((source) => source.startsWith('peer:') && source !== `peer:${owner}`);
    assert.ok(relayed.length >= 1, `some node got the layer from a non-owner (${servedBy.join(', ')})`);
    for (const [n, place] of places.entries()) {
      if (place.position === 0) assert.equal(servedBy[n], 'upstream', 'the owner fetched upstream');
      else assert.equal(servedBy[n], `peer:${place.ancestors[0]}`, `${nodes[n]?.nodeId} got the layer from its parent`);
    }
    for (const node of nodes) assert.deepEqual(node.errors, [], `${node.nodeId} logged no errors`);
  });

  test('a relay SIGKILLed mid-stream: its child resumes at the next ancestor with Range, every other pull completes with the right bytes', async (t) => {
    const { nodes, places } = await startNodes(site, 'k', t);
    const relayIndex = places.findIndex((place) => place.position === 1);
    const childIndex = places.findIndex((place) => place.ancestors[0] === nodes[relayIndex]?.nodeId);
    const relay = nodes[relayIndex] ?? assert.fail('no relay');
    const child = nodes[childIndex] ?? assert.fail('the relay has no child');
    const logStart = site.cloud.accessLog.length;
    const base = (await site.wan.nodeCounters(relayIndex)).received;
    const pulls = nodes.map((node, n) => skopeoPullIn(node.namespace.name, node.localHost, REFERENCE, `${site.work}/k-pull${n}`));
    const relayPull = pulls[relayIndex]?.catch(() => undefined);
    // Kill once the relay is well into the layer (its LAN port has received 40% of it).
    const deadline = Date.now() + 60_000;
    while ((await site.wan.nodeCounters(relayIndex)).received - base < LAYER_BYTES * KILL_AT) {
      assert.ok(Date.now() < deadline, 'the relay never got 40% of the layer');
      assert.ok(!relay.process.hasExited, 'the relay died on its own');
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
    process.kill(relay.process.pid ?? assert.fail('no pid'), 'SIGKILL');
    await relay.process.exited;
    await relayPull;
    const others = await Promise.all(pulls.filter((_, n) => n !== relayIndex));
    for (const pull of others) await verifyPulledDir(pull.dir, site.image);
    assertEachBlobOnce(site.cloud, logStart, site.image);
    const childLayer = child.cached.find((blob) => blob.digest === site.layer);
    t.diagnostic(`killed ${relay.nodeId}; ${child.nodeId} got the layer from ${childLayer?.source ?? 'nowhere'}`);
    assert.equal(childLayer?.source, `peer:${places[childIndex]?.ancestors[1]}`, 'the child finished from its grandparent');
    const resumed = child.warnings
      .map((line) => JSON.parse(line) as { msg?: string; source?: string; offset?: number; digest?: string })
      .find((entry) => entry.msg === 'blob source failed' && entry.source === `peer:${relay.nodeId}` && entry.digest === site.layer);
    assert.ok(resumed, `${child.nodeId} logged the broken relay`);
    assert.ok((resumed.offset ?? 0) > 0, `the child had bytes from the relay (offset ${resumed.offset}) and resumed from there, not from 0`);
  });
});
