// Issue 13, item 6 on a real site: three members of a keyed site and a node holding another
// key, in network namespaces, a real docker-registry as the cloud. `edgepier prefetch --site
// --pin` on member 1 makes every member hold the image, with a progress line per member; the
// cloud's access log shows each blob served once for the whole site; `status --site` on
// another member shows the three up, each holding all of it. The node without the key cannot
// make a member fetch anything, over TLS (no handshake) or plain HTTP (401).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { netnsUnavailableReason } from './support/netns.js';
import { startSiteWithImage } from './support/site-with-image.js';
import { EDGEPIER_PEER_PORT, waitForMesh, type SiteEdgePier } from './support/site-edgepier.js';

const skip = netnsUnavailableReason();
const REFERENCE = 'site/app:v1';
const NODE_ARGS = ['--tag-timeout', '1s', '--upstream-timeout', '5s', '--peer-timeout', '2s'];
const MAIN = join(import.meta.dirname, '..', 'cli', 'main.ts');

void describe('edgepier prefetch --site on a keyed site', { skip: skip === undefined ? false : `needs network namespaces: ${skip}` }, () => {
  test('every member holds the image, each blob crossed the WAN once, a non-member is refused', async (t) => {
    const site = await startSiteWithImage(t, { nodes: 4, reference: REFERENCE, layers: 3, layerSize: 600_000, seed: 'site-prefetch' });
    const { wan, cloud, image, siteKey, otherKey } = site;

    const [ns1, ns2, ns3, ns4] = wan.nodes;
    assert.ok(ns1 && ns2 && ns3 && ns4);
    const start = (n: number, ns: typeof ns1, keyFile: string): Promise<SiteEdgePier> => site.startNode(n, ns, { keyFile, args: NODE_ARGS });
    const members = [await start(1, ns1, siteKey), await start(2, ns2, siteKey), await start(3, ns3, siteKey)];
    await start(4, ns4, otherKey);
    await waitForMesh(members);
    const cli = (ns: typeof ns1, args: string[], timeoutMs = 120_000): Promise<string> =>
      wan.site.exec(ns.name, process.execPath, ['--import', 'tsx', MAIN, ...args], timeoutMs);

    // The node without the key tries to make member 1 prefetch: no TLS handshake, and plain HTTP is 401.
    const logBefore = cloud.accessLog.length;
    const curl = (args: readonly string[]): Promise<string> => site.curlStatus(ns4, args);
    const prefetchPath = `/edgepier/site/prefetch?image=${encodeURIComponent(REFERENCE)}`;
    assert.equal(await curl(['-X', 'POST', `http://${ns1.address}:${EDGEPIER_PEER_PORT}${prefetchPath}`]), '401', 'plain HTTP to the peer API');
    assert.match(await curl(['-k', '-X', 'POST', `https://${ns1.address}:${EDGEPIER_PEER_PORT}${prefetchPath}`]), /^curl failed|^000$/, 'TLS without the key does not complete');
    assert.equal(await curl([`http://${ns1.address}:${EDGEPIER_PEER_PORT}/edgepier/site/summary`]), '401', 'nor is the summary given');
    assert.equal(cloud.accessLog.length, logBefore, 'nothing was fetched for the non-member');

    const output = await cli(ns1, ['prefetch', '--site', '--pin', REFERENCE, '--mirror', 'http://127.0.0.1:5000', '--timeout', '90s']);
    assert.match(output, /3 members prefetching/, output);
    for (const id of ['node1', 'node2', 'node3']) assert.match(output, new RegExp(`${id}: done ${image.blobs.size}/${image.blobs.size} blobs.*pinned`), `a progress line per member:\n${output}`);
    assert.match(output, /3 members done \(pinned\), 0 failed/);

    // The cloud served each blob once for the whole site.
    const gets = cloud.blobGets(logBefore);
    assert.deepEqual([...gets.keys()].sort(), [...image.blobs.keys()].sort(), 'the cloud served exactly the image blobs');
    for (const [digest, byClient] of gets) {
      const total = [...byClient.values()].reduce((sum, count) => sum + count, 0);
      assert.equal(total, 1, `blob ${digest} crossed the WAN once: ${JSON.stringify([...byClient])}`);
    }
    for (const member of members) {
      const cached = new Set(member.cached.map((blob) => blob.digest));
      for (const digest of image.blobs.keys()) assert.ok(cached.has(digest), `${member.nodeId} holds ${digest}`);
    }

    // status --site from another member, against the real nodes.
    const status = await cli(ns2, ['status', '--site', '--url', 'http://127.0.0.1:5000']);
    assert.match(status, /3 of 3 members up/, status);
    for (const id of ['node1', 'node2', 'node3']) assert.match(status, new RegExp(`^  ${id}\\s+\\[#{30}\\]\\s+100%`, 'm'), `${id} holds all of it:\n${status}`);
    assert.doesNotMatch(status, /node4/, 'the node with another key is no member');
  });
});
