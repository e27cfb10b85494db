import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CompositeDiscovery } from '../discovery/composite-discovery.js';
import { MemoryDiscovery, MemoryLan } from '../discovery/memory-discovery.js';
import type { Peer } from '../discovery/peer-discovery.js';
import { waitUntil } from './support/wait-until.js';

const digest = `sha256:${'1'.repeat(64)}`;


void describe('CompositeDiscovery', () => {
  void it('unions sources, deduplicating by id and then by URL, with one event per transition', async () => {
    const lanA = new MemoryLan();
    const lanB = new MemoryLan();
    // Node "b" is seen by both sources; by URL only in the second one (a static entry
    // without a node header has its URL as id).
    const meA = new MemoryDiscovery({ lan: lanA, nodeId: 'me', url: 'http://127.0.0.1:5000' });
    const meB = new MemoryDiscovery({ lan: lanB, nodeId: 'me', url: 'http://127.0.0.1:5000' });
    const b = new MemoryDiscovery({ lan: lanA, nodeId: 'b', url: 'http://127.0.0.2:5000' });
    const bByUrl = new MemoryDiscovery({ lan: lanB, nodeId: 'http://127.0.0.2:5000', url: 'http://127.0.0.2:5000' });
    const c = new MemoryDiscovery({ lan: lanB, nodeId: 'c', url: 'http://127.0.0.3:5000' });
    await Promise.all([b.start(), bByUrl.start(), c.start()]);
    const composite = new CompositeDiscovery([meA, meB]);
    const ups: Peer[] = [];
    const downs: Peer[] = [];
    composite.on('peer-up', (peer) => ups.push(peer));
    composite.on('peer-down', (peer) => downs.push(peer));
    await composite.start();
    // Once the sources have delivered every event the LANs queued, the union is final:
    // the composite recomputes synchronously inside each source event.
    await waitUntil(() => meA.peers().length === 1 && meB.peers().length === 2, 'the sources to see their LANs');
    const sorted = (peers: Peer[]): Peer[] => [...peers].sort((x, y) => x.url.localeCompare(y.url));
    assert.deepEqual(sorted(composite.peers()), [
      { id: 'b', url: 'http://127.0.0.2:5000' },
      { id: 'c', url: 'http://127.0.0.3:5000' },
    ]);
    assert.equal(ups.length, 2);

    b.advertise(digest);
    bByUrl.advertise(digest);
    assert.deepEqual(await composite.findHolders(digest, { timeoutMs: 20 }), [{ id: 'b', url: 'http://127.0.0.2:5000' }]);
    assert.equal((await composite.findHolders(digest, { timeoutMs: 5000, firstAnswerOnly: true })).length, 1);

    // "b" leaves the first source but is still reachable through the second.
    await b.close();
    await waitUntil(() => meA.peers().length === 0, 'the first source to see "b" leave');
    assert.deepEqual(downs, [{ id: 'b', url: 'http://127.0.0.2:5000' }]);
    assert.deepEqual(sorted(composite.peers()).map((peer) => peer.id), ['http://127.0.0.2:5000', 'c']);

    await composite.close();
    await Promise.all([bByUrl.close(), c.close()]);
    assert.deepEqual(composite.peers(), []);
  });
});
