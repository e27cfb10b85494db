// Faults during a real rollout (issue 15), short form: four EdgePier nodes in network
// namespaces, a real docker-registry behind a rate-limited WAN, skopeo pulling on every node
// at once. (1) The rendezvous owner of a layer is killed with SIGKILL while another node is
// receiving that layer from it, then started again on its cache; (2) the WAN link goes down
// mid-layer and comes back. Every node ends with the image's exact bytes, only the killed
// node's own pull is retried (after it is back), and nobody hangs. No timing is asserted.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { netnsUnavailableReason } from './support/netns.js';
import { startCloudRegistry, type CloudRegistry } from './support/site-cloud-registry.js';
import { runFaultRollout, type Fault, type FaultRolloutOptions } from './support/site-fault-rollout.js';
import { wanQdiscs } from './support/site-faults.js';
import { expectedImage, type ExpectedImage } from './support/site-pull.js';
import { createWanSite, type WanSite } from './support/site-wan.js';
import { makeTempDir } from './support/temp-dir.js';
import { buildImage, type ImageLayout } from './support/test-image.js';

const skip = netnsUnavailableReason();
const NODES = 4;
const REFERENCE = 'rollout/faults:v1';
const PULL_TIMEOUT_MS = 60_000;

void describe('faults during a rollout through EdgePier', { skip: skip === undefined ? false : `needs network namespaces: ${skip}` }, () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  let wan: WanSite;
  let cloud: CloudRegistry;
  let layout: ImageLayout;
  let image: ExpectedImage;
  let workDir: string;
  let target: string;

  before(async () => {
    wan = await createWanSite({ nodes: NODES, rate: '20mbit' });
    cleanups.push(() => wan.destroy());
    cloud = await startCloudRegistry(wan);
    cleanups.push(() => cloud.stop());
    // Three layers of ~3 MB over 20 Mbit/s: each takes seconds, room to strike mid-layer.
    layout = await buildImage({ layers: 3, layerSize: 3_000_000, seed: 'rollout-faults' });
    cleanups.push(() => layout.cleanup());
    await cloud.push(layout, REFERENCE);
    image = expectedImage(layout);
    const work = await makeTempDir('rollout-faults');
    cleanups.push(() => work.remove());
    workDir = work.path;
    const layers = layout.platformLayers.get('linux/amd64') ?? [];
    target = layers[0] ?? assert.fail('the image has no layer');
  });
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  });

  const run = (fault: Fault, extra: Partial<FaultRolloutOptions> = {}): ReturnType<typeof runFaultRollout> =>
    runFaultRollout({
      wan, cloud, image, reference: REFERENCE, workDir, nodes: NODES, tag: fault, fault, target,
      verify: 'bytes', pullTimeoutMs: PULL_TIMEOUT_MS, strikeDeadlineMs: 30_000, ...extra,
    });

  void test('the node serving a layer to the others is killed mid-transfer: every node ends with the right bytes, only its own pull restarts', async (t) => {
    const result = await run('kill-serving-node', { log: (line) => t.diagnostic(line) });
    t.diagnostic(`times ${result.times.map((s) => s.toFixed(1)).join(' ')} s, retries ${result.retries.join(' ')}, target from ${result.targetSources.join(' | ')}, ${result.blobGets} cloud blob GETs`);
    assert.equal(result.victim, result.owner, 'the victim was the target layer\'s owner');
    const victim = result.nodeIds.indexOf(result.owner);
    assert.ok((result.struckAfterBytes ?? 0) > 0, 'a node had received bytes of the layer from its owner before the kill');
    assert.ok((result.retries[victim] ?? 0) >= 1, "the killed node's own pull broke and was retried after it came back");
    assert.deepEqual(result.refetchedAfterRestart, [], 'what the killed node had committed it served from its cache after the restart');
    for (const [n, id] of result.nodeIds.entries()) {
      if (n !== victim) assert.equal(result.retries[n], 0, `${id} finished its first pull`);
      assert.notEqual(result.targetSources[n], '-', `${id} cached the target layer`);
    }
  });

  void test('the WAN goes down for a few seconds mid-layer: every node ends with the right bytes, no pull fails', async (t) => {
    const result = await run('wan-cut', { cutMs: 5_000, log: (line) => t.diagnostic(line) });
    t.diagnostic(`times ${result.times.map((s) => s.toFixed(1)).join(' ')} s, target from ${result.targetSources.join(' | ')}, ${result.blobGets} cloud blob GETs`);
    assert.ok((result.struckAt ?? 0) > 0, 'the cut happened during the rollout');
    assert.deepEqual(result.retries, result.nodeIds.map(() => 0), 'no pull had to be retried');
    assert.ok(result.makespan > 5, `the rollout outlasted the cut (${result.makespan.toFixed(1)} s): the cut hit it`);
    assert.match(await wanQdiscs(wan), /tbf[\s\S]*tbf/, 'the WAN shaping survived the cut');
    // Connections mostly stall and carry on; one the kernel gives up on is resumed with Range,
    // so no blob is ever fetched whole a second time.
    assert.equal(result.blobGets, image.blobs.size, `each blob was fetched whole from the cloud once (${result.rangeGets} resumed with Range)`);
    for (const [id, errors] of result.errors) assert.deepEqual(errors, [], `${id} logged no errors`);
  });
});
