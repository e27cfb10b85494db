// One behavioural suite for every PeerDiscovery that knows holdings (Spegel's
// ProviderConformance): the in-memory fake, and MdnsDiscovery on real multicast between
// network namespaces (through RemoteDiscovery, which drives one process per namespace).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { MemoryDiscovery, MemoryLan } from '../discovery/memory-discovery.js';
import type { Peer, PeerDiscovery } from '../discovery/peer-discovery.js';
import { netnsUnavailableReason } from './support/netns.js';
import { launchMdnsSite } from './support/netns-discovery-proxy.js';

interface ConformanceSite {
  readonly nodes: readonly PeerDiscovery[];
  /** How each node must appear in the others' peer lists. */
  readonly identities: readonly Peer[];
  destroy(): Promise<void>;
}

const NODES = 3;

function digestOf(text: string): string {
  return `sha256:${createHash('sha256').update(text).digest('hex')}`;
}

function byId(peers: readonly Peer[]): Peer[] {
  return [...peers].sort((a, b) => a.id.localeCompare(b.id));
}

async function waitFor(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function conformance(name: string, makeSite: () => Promise<ConformanceSite>, skip?: string): void {
  void describe(name, { skip: skip ?? false }, () => {
    let site: ConformanceSite;
    const ups: Peer[][] = [];
    const downs: Peer[][] = [];
    const node = (n: number): PeerDiscovery => {
      const found = site.nodes[n];
      assert.ok(found, `node ${n}`);
      return found;
    };
    const identity = (n: number): Peer => {
      const found = site.identities[n];
      assert.ok(found, `identity ${n}`);
      return found;
    };

    before(async () => {
      site = await makeSite();
      site.nodes.forEach((discovery, n) => {
        ups[n] = [];
        downs[n] = [];
        discovery.on('peer-up', (peer) => ups[n]?.push(peer));
        discovery.on('peer-down', (peer) => downs[n]?.push(peer));
      });
      await Promise.all(site.nodes.map((discovery) => discovery.start()));
    });

    after(async () => {
      await Promise.all(site.nodes.map((discovery) => discovery.close()));
      await site.destroy();
    });

    void it('every node sees every other node with its URL, once, and never itself', async () => {
      const others = (n: number): Peer[] => byId(site.identities.filter((_, m) => m !== n));
      await waitFor(
        () => site.nodes.every((discovery, n) => JSON.stringify(byId(discovery.peers())) === JSON.stringify(others(n))),
        10_000,
        'all nodes to see each other',
      );
      for (let n = 0; n < NODES; n++) {
        assert.deepEqual(byId(node(n).peers()), others(n));
        assert.deepEqual(byId(ups[n] ?? []), others(n), `node ${n} emits peer-up once per peer`);
        assert.deepEqual(downs[n], []);
      }
    });

    void it('findHolders finds the nodes that advertise a digest, and never the asking node', async () => {
      const digest = digestOf('holders');
      node(0).advertise(digest);
      assert.deepEqual(await node(1).findHolders(digest, { timeoutMs: 1000 }), [identity(0)]);
      node(2).advertise(digest);
      assert.deepEqual(byId(await node(1).findHolders(digest, { timeoutMs: 1000 })), byId([identity(0), identity(2)]));
      assert.deepEqual(await node(0).findHolders(digest, { timeoutMs: 500 }), [identity(2)]);
    });

    void it('firstAnswerOnly resolves on the first answer, long before the timeout', async () => {
      const digest = digestOf('first-answer');
      node(0).advertise(digest);
      node(2).advertise(digest);
      const started = Date.now();
      const found = await node(1).findHolders(digest, { timeoutMs: 10_000, firstAnswerOnly: true });
      assert.equal(found.length, 1);
      assert.ok([identity(0).id, identity(2).id].includes(found[0]?.id ?? ''));
      assert.ok(Date.now() - started < 2000, `took ${Date.now() - started} ms`);
    });

    void it('withdraw stops the node answering for the digest at once', async () => {
      const digest = digestOf('withdrawn');
      node(0).advertise(digest);
      assert.deepEqual(await node(1).findHolders(digest, { timeoutMs: 1000, firstAnswerOnly: true }), [identity(0)]);
      node(0).withdraw(digest);
      assert.deepEqual(await node(1).findHolders(digest, { timeoutMs: 500 }), []);
    });

    void it('a miss, or a digest that is not one, resolves empty and never rejects', async () => {
      assert.deepEqual(await node(1).findHolders(digestOf('nobody has this'), { timeoutMs: 300 }), []);
      for (const bad of ['', 'nonsense', 'sha256:ABC', `sha256:${'A'.repeat(64)}`, `md5:${'0'.repeat(32)}`]) {
        node(0).advertise(bad); // ignored, must not throw
        assert.deepEqual(await node(1).findHolders(bad, { timeoutMs: 200 }), [], bad);
      }
      const sha512 = `sha512:${createHash('sha512').update('long').digest('hex')}`;
      node(2).advertise(sha512);
      assert.deepEqual(await node(1).findHolders(sha512, { timeoutMs: 1000 }), [identity(2)]);
    });

    void it('close() makes the other nodes see the node go, and is idempotent', async () => {
      await node(2).close();
      await waitFor(
        () => [0, 1].every((n) => !node(n).peers().some((peer) => peer.id === identity(2).id)),
        5000,
        'node 2 to go from the peer lists',
      );
      for (const n of [0, 1]) assert.deepEqual(downs[n], [identity(2)]);
      await node(2).close();
      assert.deepEqual(node(2).peers(), []);
      assert.deepEqual(await node(2).findHolders(digestOf('holders'), { timeoutMs: 100 }), []);
      // The survivors still see each other.
      assert.deepEqual(node(0).peers(), [identity(1)]);
    });
  });
}

conformance('PeerDiscovery conformance: MemoryDiscovery', () => {
  const lan = new MemoryLan();
  const identities = Array.from({ length: NODES }, (_, n) => ({ id: `memory-${n}`, url: `http://127.0.0.1:${5000 + n}` }));
  const nodes = identities.map((peer) => new MemoryDiscovery({ lan, nodeId: peer.id, url: peer.url }));
  return Promise.resolve({ nodes, identities, destroy: () => Promise.resolve() });
});

const netnsSkip = netnsUnavailableReason();
conformance(
  'PeerDiscovery conformance: MdnsDiscovery (real multicast between network namespaces)',
  () => launchMdnsSite({ nodes: NODES }),
  netnsSkip === undefined ? undefined : `needs network namespaces: ${netnsSkip}`,
);
