// Issue 15: the mDNS peer table under a flood, on real multicast between network namespaces.
// An attacker process (test/support/hostile-peer.ts) announces 4,200 fake instances every
// second on an open site; two honest nodes that were there before stay up, and an honest node
// that joins during the flood is seen by both within seconds (before the table was bounded
// by eviction, 4,200 fakes filled it and a newcomer was not seen within 30 s).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { netnsUnavailableReason } from './support/netns.js';
import { launchMdnsSite, type MdnsTestSite } from './support/netns-discovery-proxy.js';
import { NamespaceProcess } from './support/site-namespace-process.js';

const HOSTILE = join(import.meta.dirname, 'support', 'hostile-peer.ts');
const SYBILS = 4_200;
/** What "promptly" means here: an honest node's first announcements, with room for a busy host. */
const NEWCOMER_DEADLINE_MS = 10_000;
const skip = netnsUnavailableReason();

async function waitFor(check: () => boolean, timeoutMs: number, what: string): Promise<number> {
  const started = Date.now();
  while (!check()) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return Date.now() - started;
}

void describe('the mDNS peer table under a flood of fake announcements', { skip: skip === undefined ? false : `needs network namespaces: ${skip}` }, () => {
  let lan: MdnsTestSite;
  let attacker: NamespaceProcess | undefined;
  const downs: string[] = [];

  before(async () => {
    lan = await launchMdnsSite({ nodes: 3, ttlSeconds: 120, spare: 1 });
    lan.nodes.forEach((node, n) => node.on('peer-down', (peer) => downs.push(`${n}:${peer.id}`)));
  });
  after(async () => {
    await attacker?.stop();
    await lan.destroy();
  });

  it('keeps the peers it had, sees a newcomer within seconds, and holds at most 16 fakes from the flooding host', async (t) => {
    const [node0, node1, node2] = lan.nodes;
    const attackerNs = lan.site.namespaces[3];
    assert.ok(node0 && node1 && node2 && attackerNs);
    const id = (n: number): string => lan.identities[n]?.id ?? '';
    await Promise.all([node0.start(), node1.start()]);
    await waitFor(() => node0.peers().some((p) => p.id === id(1)) && node1.peers().some((p) => p.id === id(0)), 15_000, 'nodes 0 and 1 to see each other');

    attacker = new NamespaceProcess('hostile peer', attackerNs.name, process.execPath, [
      '--import', 'tsx', HOSTILE,
      JSON.stringify({ address: attackerNs.address, port: 5001, sybils: SYBILS, impersonate: [], rounds: 60 }),
    ]);
    await attacker.waitForLine(/"event":"ready"/, 15_000);
    await attacker.waitForLine(/"event":"announced"/, 15_000);
    // The flood arrived: fakes are in the tables (an open site takes unsealed announcements).
    await waitFor(() => node0.peers().some((p) => p.id.startsWith('sybil-')), 15_000, 'the fakes to reach node 0');

    const joinedAt = Date.now();
    await node2.start();
    const seen0 = await waitFor(() => node0.peers().some((p) => p.id === id(2)), NEWCOMER_DEADLINE_MS, 'node 0 to see the newcomer');
    const seen1 = await waitFor(() => node1.peers().some((p) => p.id === id(2)), NEWCOMER_DEADLINE_MS, 'node 1 to see the newcomer');
    t.diagnostic(`newcomer seen after ${Date.now() - joinedAt} ms (node 0: ${seen0} ms, node 1: ${seen1} ms)`);

    for (const [n, node] of [node0, node1].entries()) {
      const peers = node.peers();
      const fakes = peers.filter((p) => p.id.startsWith('sybil-')).length;
      t.diagnostic(`node ${n}: ${peers.length} peers, ${fakes} of them fakes`);
      assert.ok(fakes <= 16, `node ${n} holds ${fakes} fakes from one host`);
      assert.ok(peers.some((p) => p.id === id(1 - n)), `node ${n} still sees node ${1 - n}`);
    }
    assert.deepEqual(downs.filter((down) => !down.includes('sybil-')), [], 'no honest peer went down during the flood');
  });
});
