// One behavioural suite for every PeerDiscovery (Spegel's ProviderConformance): membership
// for all of them, holdings in the form each one promises. Run by
// test/peer-discovery-contract.test.ts (in-process implementations) and
// test/peer-discovery-contract-mdns.integration.test.ts (real multicast between namespaces).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Peer, PeerDiscovery } from '../../discovery/peer-discovery.js';
import { waitUntil } from './wait-until.js';

export interface ContractSite {
  readonly nodes: readonly PeerDiscovery[];
  /** How each node must appear in the others' peer lists. */
  readonly identities: readonly Peer[];
  /**
   * Takes node `n` off the site the way that implementation learns of it: mDNS goodbyes on
   * close(); for a static list, the node's HTTP server going away. Default: close().
   */
  leave?(n: number): Promise<void>;
  destroy(): Promise<void>;
}

/**
 * - `indexed`: findHolders names exactly the nodes that advertise the digest (mDNS, memory).
 * - `every-live-peer`: there is no index; every live peer is a candidate and answers a blob
 *   it lacks with a fast 404 (a static list). advertise/withdraw change nothing.
 */
export type HoldingsModel = 'indexed' | 'every-live-peer';

export interface ContractOptions {
  readonly holdings: HoldingsModel;
  /** Budget for membership changes to reach every node. */
  readonly settleMs?: number;
  readonly skip?: string;
}

export const CONTRACT_NODES = 3;

export function digestOf(text: string): string {
  return `sha256:${createHash('sha256').update(text).digest('hex')}`;
}

function byId(peers: readonly Peer[]): Peer[] {
  return [...peers].sort((a, b) => a.id.localeCompare(b.id));
}

const NOT_DIGESTS = ['', 'nonsense', 'sha256:ABC', `sha256:${'A'.repeat(64)}`, `md5:${'0'.repeat(32)}`];

export function peerDiscoveryContract(name: string, makeSite: () => Promise<ContractSite>, options: ContractOptions): void {
  const settleMs = options.settleMs ?? 10_000;
  void describe(`PeerDiscovery contract: ${name}`, { skip: options.skip ?? false }, () => {
    let site: ContractSite;
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
    const others = (n: number): Peer[] => byId(site.identities.filter((_, m) => m !== n));

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
      await waitUntil(
        () => site.nodes.every((discovery, n) => JSON.stringify(byId(discovery.peers())) === JSON.stringify(others(n))),
        'all nodes to see each other',
        settleMs,
      );
      for (let n = 0; n < CONTRACT_NODES; n++) {
        assert.deepEqual(byId(node(n).peers()), others(n));
        assert.deepEqual(byId(ups[n] ?? []), others(n), `node ${n} emits peer-up once per peer`);
        assert.deepEqual(downs[n], []);
      }
    });

    if (options.holdings === 'indexed') {
      void it('findHolders finds the nodes that advertise a digest, and never the asking node', async () => {
        const digest = digestOf('holders');
        node(0).advertise(digest);
        assert.deepEqual(await node(1).findHolders(digest, { timeoutMs: 1000 }), [identity(0)]);
        node(2).advertise(digest);
        assert.deepEqual(byId(await node(1).findHolders(digest, { timeoutMs: 1000 })), byId([identity(0), identity(2)]));
        assert.deepEqual(await node(0).findHolders(digest, { timeoutMs: 500 }), [identity(2)]);
      });

      void it('withdraw stops the node answering for the digest at once', async () => {
        const digest = digestOf('withdrawn');
        node(0).advertise(digest);
        assert.deepEqual(await node(1).findHolders(digest, { timeoutMs: 1000, firstAnswerOnly: true }), [identity(0)]);
        node(0).withdraw(digest);
        assert.deepEqual(await node(1).findHolders(digest, { timeoutMs: 500 }), []);
      });

      void it('a miss resolves empty after the timeout and never rejects', async () => {
        assert.deepEqual(await node(1).findHolders(digestOf('nobody has this'), { timeoutMs: 300 }), []);
      });

      void it('sha512 digests are advertised and found like sha256 ones', async () => {
        const sha512 = `sha512:${createHash('sha512').update('long').digest('hex')}`;
        node(2).advertise(sha512);
        assert.deepEqual(await node(1).findHolders(sha512, { timeoutMs: 1000 }), [identity(2)]);
      });
    } else {
      void it('findHolders names every live peer as a candidate, never the asking node, whatever was advertised', async () => {
        const digest = digestOf('candidates');
        assert.deepEqual(byId(await node(1).findHolders(digest, { timeoutMs: 200 })), others(1));
        node(0).advertise(digest);
        node(0).withdraw(digest);
        assert.deepEqual(byId(await node(1).findHolders(digest, { timeoutMs: 200 })), others(1));
      });
    }

    void it('firstAnswerOnly resolves with one holder, long before the timeout', async () => {
      const digest = digestOf('first-answer');
      node(0).advertise(digest);
      node(2).advertise(digest);
      const started = Date.now();
      const found = await node(1).findHolders(digest, { timeoutMs: 10_000, firstAnswerOnly: true });
      assert.equal(found.length, 1);
      assert.ok([identity(0).id, identity(2).id].includes(found[0]?.id ?? ''));
      assert.ok(Date.now() - started < 2000, `took ${Date.now() - started} ms`);
    });

    void it('a string that is not a digest is neither advertised nor found, and never throws', async () => {
      for (const bad of NOT_DIGESTS) {
        node(0).advertise(bad);
        assert.deepEqual(await node(1).findHolders(bad, { timeoutMs: 200 }), [], JSON.stringify(bad));
        node(0).withdraw(bad);
      }
    });

    void it('a node that leaves is seen going by the others, once; close() is idempotent', async () => {
      await (site.leave ? site.leave(2) : node(2).close());
      await waitUntil(
        () => [0, 1].every((n) => !node(n).peers().some((peer) => peer.id === identity(2).id)),
        'node 2 to go from the peer lists',
        settleMs,
      );
      for (const n of [0, 1]) assert.deepEqual(downs[n], [identity(2)], `node ${n} emits peer-down once`);
      await node(2).close();
      await node(2).close();
      assert.deepEqual(node(2).peers(), []);
      assert.deepEqual(await node(2).findHolders(digestOf('first-answer'), { timeoutMs: 100 }), []);
      // The survivors still see each other.
      assert.deepEqual(node(0).peers(), [identity(1)]);
      assert.deepEqual(node(1).peers(), [identity(0)]);
    });
  });
}
