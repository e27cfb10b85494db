// Issue 11 "Show": two members of a keyed site, a node holding another key, and an attacker on
// the same bridge, all in network namespaces with a real docker-registry as the cloud. The
// attacker announces 200 Sybil ids (and the members' own ids) over mDNS with forged seals,
// claims every digest, forges owner fetches in both wire forms, knocks on the client API and
// on the peer TLS without the key, and offers its own manifest for every tag. With the WAN
// cut, member 2 resolves the tag through member 1 and pulls the real image; the attacker's
// server never receives a single request, no attack makes a member fetch from the cloud, and
// the node with the wrong key is not a member either way.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { netnsUnavailableReason } from './support/netns.js';
import { startSiteWithImage } from './support/site-with-image.js';
import { EDGEPIER_PEER_PORT, EDGEPIER_PORT, waitForMesh, type SiteEdgePier } from './support/site-edgepier.js';
import { NamespaceProcess } from './support/site-namespace-process.js';
import { skopeoPullIn, verifyPulledDir } from './support/site-pull.js';

const skip = netnsUnavailableReason();
const REFERENCE = 'site/app:v1';
const NODE_ARGS = ['--tag-timeout', '1s', '--upstream-timeout', '2s', '--peer-timeout', '2s'];
const HOSTILE = join(import.meta.dirname, 'support', 'hostile-peer.ts');
const FOREIGN_LOG = "without this site's key";

void describe('a keyed site with an attacker on its LAN', { skip: skip === undefined ? false : `needs network namespaces: ${skip}` }, () => {
  test('Sybils, forged owner fetches, a fake tag source and a wrong-key node get nothing; members still share', async (t) => {
    const site = await startSiteWithImage(t, { nodes: 4, reference: REFERENCE, layers: 2, layerSize: 400_000, seed: 'site-attacker' });
    const { wan, cloud, image, workDir } = site;

    const [ns1, ns2, attackerNs, ns4] = wan.nodes;
    assert.ok(ns1 && ns2 && attackerNs && ns4);
    const attacker = new NamespaceProcess('hostile peer', attackerNs.name, process.execPath, [
      '--import', 'tsx', HOSTILE,
      JSON.stringify({ address: attackerNs.address, port: EDGEPIER_PEER_PORT, sybils: 200, impersonate: ['node1', 'node2'], rounds: 60 }),
    ]);
    site.defer(() => attacker.stop());
    await attacker.waitForLine(/"event":"ready"/, 15_000);
    const attackerRequests = (): string[] => attacker.lines.filter((line) => line.includes('"event":"request"'));

    const start = (n: number, ns: typeof ns1, keyFile: string): Promise<SiteEdgePier> =>
      site.startNode(n, ns, { keyFile, args: NODE_ARGS, clientAllow: `${ns.address}/32` });
    const node1 = await start(1, ns1, site.siteKey);
    const node2 = await start(2, ns2, site.siteKey);
    const node4 = await start(4, ns4, site.otherKey);
    await waitForMesh([node1, node2]);
    await attacker.waitForLine(/"event":"announced"/, 15_000);
    // Proof that the forged announcements reached every node (and were refused).
    for (const node of [node1, node2, node4]) {
      await node.process.waitForLine(new RegExp(FOREIGN_LOG), 15_000);
    }

    // Member 1 pulls the image from the cloud.
    const first = await skopeoPullIn(ns1.name, node1.localHost, REFERENCE, `${workDir}/pull1`);
    await verifyPulledDir(first.dir, image);
    const layer = [...image.blobs.keys()][0] ?? assert.fail('the image has blobs');
    const cloudRequestsBefore = cloud.accessLog.length;

    // The attacker tries to make a member fetch for it, in every form the old wire allowed.
    const curl = (args: readonly string[]): Promise<string> => site.curlStatus(attackerNs, args);
    const peerApi = `http://${ns1.address}:${EDGEPIER_PEER_PORT}`;
    const fresh = `sha256:${'ab'.repeat(32)}`;
    assert.equal(await curl(['-H', 'x-edgepier-peer: node2', '-H', 'x-edgepier-owner-fetch: 1', `${peerApi}/v2/site/app/blobs/${fresh}`]), '401', 'forged owner fetch by header');
    assert.equal(await curl([`${peerApi}/v2/site/app/blobs/${fresh}?edgepier-peer=node2&edgepier-owner-fetch=1`]), '401', 'forged owner fetch by query');
    assert.equal(await curl([`${peerApi}/v2/site/app/blobs/${layer}?edgepier-peer=node2&edgepier-expires=99999999999&edgepier-ticket=AAAA`]), '401', 'a forged redirect ticket');
    assert.equal(await curl(['-H', 'x-edgepier-peer: node2', `${peerApi}/v2/site/app/manifests/v1`]), '401', 'a tag from the peer API');
    assert.equal(await curl([`http://${ns1.address}:${EDGEPIER_PORT}/v2/site/app/blobs/${layer}`]), '403', 'the client API serves allowed hosts only');
    assert.equal(await curl([`http://${ns1.address}:${EDGEPIER_PORT}/status.json`]), '403', 'nor its status to others');
    assert.match(await curl(['-k', `https://${ns1.address}:${EDGEPIER_PEER_PORT}/v2/`]), /^curl failed|^000$/, 'TLS without the key does not complete');
    assert.equal(cloud.accessLog.length, cloudRequestsBefore, 'no attack made a member ask the cloud');

    // The WAN goes down for member 2 and the wrong-key node; both never resolved the tag.
    await wan.cutCloudFrom([ns2.address, ns4.address]);
    const second = await skopeoPullIn(ns2.name, node2.localHost, REFERENCE, `${workDir}/pull2`);
    await verifyPulledDir(second.dir, image);
    assert.ok(
      node2.warnings.some((line) => line.includes('tag resolved by a peer') && line.includes('"peer":"node1"')),
      `member 2 took the tag from member 1:\n${node2.process.diagnostics()}`,
    );
    await assert.rejects(skopeoPullIn(ns4.name, node4.localHost, REFERENCE, `${workDir}/pull4`, 60_000), 'the wrong-key node is no member: nobody gives it the tag');

    assert.deepEqual(attackerRequests(), [], 'no node ever sent the attacker a request');
    assert.deepEqual([...node1.peers], ['node2'], 'member 1 sees only member 2');
    assert.deepEqual([...node2.peers], ['node1'], 'member 2 sees only member 1');
    assert.deepEqual([...node4.peers], [], 'the wrong-key node sees nobody');
    // Whichever member owned a blob fetched it for both (before member 2's WAN was cut): once.
    const gets = cloud.blobGets();
    assert.deepEqual([...gets.keys()].sort(), [...image.blobs.keys()].sort(), 'the cloud served exactly the image blobs');
    for (const [digest, byClient] of gets) {
      const clients = [...byClient.entries()];
      assert.equal(clients.length, 1, `blob ${digest}: one client ${JSON.stringify(clients)}`);
      assert.ok(clients[0]?.[1] === 1 && [ns1.address, ns2.address].includes(clients[0][0]), `blob ${digest}: one GET, by a member: ${JSON.stringify(clients)}`);
    }
    for (const node of [node1, node2]) {
      const exit = await node.stop();
      assert.equal(exit.code, 0, `${node.nodeId} exits cleanly:\n${node.process.diagnostics()}`);
    }
  });
});
