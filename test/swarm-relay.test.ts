// The swarm (issue 16): a node fetches a cold layer through its parent in the layer's relay
// tree, a relay fetches through its own ancestors, and a node fetches for a peer only when
// the peer ranks below it. Source order on SitePeers itself; the rest on real nodes of a
// MemoryLan site, with good and bad neighbours as real servers.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { MemoryDiscovery, MemoryLan } from '../discovery/memory-discovery.js';
import type { RegistryRoute } from '../mirror/registry-router.js';
import { parseDigest } from '../oci/digest.js';
import type { PeerClient } from '../peer/peer-client.js';
import { PeerHealth } from '../peer/peer-health.js';
import { rankByRendezvous } from '../peer/rendezvous.js';
import { SitePeers } from '../peer/site-peers.js';
import { swarmPlace } from '../peer/swarm-tree.js';
import { startFakePeer } from './support/fake-peer.js';
import { LoopbackRegistry, startLoopbackRegistry } from './support/loopback-registry.js';
import { startMemorySite, type MemorySite, type SiteNode } from './support/memory-site.js';
import { readBody } from './support/read-body.js';
import { waitUntil } from './support/wait-until.js';

const sha256 = (bytes: Buffer): string => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
// The plan never reaches upstream, so the route's client is a stub.
const route: RegistryRoute = { registry: 'docker.io', repository: 'app', authenticated: false, client: {} as RegistryRoute['client'] };

/** Ids in rendezvous order for `digest`: index 0 is the owner. */
function order(digest: string, ids: readonly string[]): string[] {
  return rankByRendezvous(digest, ids.map((id) => ({ id }))).map(({ id }) => id);
}

/** A fresh id that ranks between `upper` and `lower` for `digest` (or below all, without `lower`). */
function idBetween(digest: string, prefix: string, upper: string, lower?: string): string {
  for (let attempt = 0; attempt < 10_000; attempt += 1) {
    const id = `${prefix}-${attempt}`;
    const ranked = order(digest, [upper, id, ...(lower ? [lower] : [])]);
    if (ranked[0] === upper && ranked[1] === id) return id;
  }
  throw new Error('no such id');
}

/** A fresh id that ranks above `lower` for `digest`. */
function idAbove(digest: string, prefix: string, lower: string): string {
  for (let attempt = 0; attempt < 10_000; attempt += 1) {
    const id = `${prefix}-${attempt}`;
    if (order(digest, [id, lower])[0] === id) return id;
  }
  throw new Error('no such id');
}

describe('SitePeers: the sources of a cold layer follow the relay tree', () => {
  const lan = new MemoryLan();
  const members = ['m-a', 'm-b', 'm-c', 'm-d', 'm-e', 'm-f', 'm-g'];
  const discoveries = members.map((id) => new MemoryDiscovery({ lan, nodeId: id, url: `http://${id}.invalid` }));
  before(async () => {
    for (const discovery of discoveries) await discovery.start();
    await waitUntil(() => discoveries.every((discovery) => discovery.peers().length === members.length - 1), 'membership');
  });
  after(async () => {
    for (const discovery of discoveries) await discovery.close();
  });

  function sitePeers(index: number, fanOut: number, health = new PeerHealth()): SitePeers {
    return new SitePeers({
      nodeId: members[index] ?? '',
      discovery: discoveries[index] ?? assert.fail('no member'),
      // Never called: these tests only look at the plan, not at transfers.
      client: {} as PeerClient,
      health,
      logger: pino({ level: 'silent' }),
      holderLookupMs: 10,
      peerTimeoutMs: 100,
      fanOut,
    });
  }

  const digest = parseDigest(sha256(Buffer.from('one big layer')));
  const ranked = order(digest.value, members);
  const deepest = members.indexOf(ranked.at(-1) ?? '');

  test('parent first, then each ancestor up to the owner, then the holders', async () => {
    for (const fanOut of [1, 2, 3]) {
      const expected = swarmPlace(digest.value, members[deepest] ?? '', members, fanOut).ancestors;
      assert.ok(expected.length >= 2, 'the deepest node has a parent below the owner');
      const names = (await sitePeers(deepest, fanOut).blobSources(route, digest, {})).map((source) => source.name);
      assert.deepEqual(names, [...expected.map((id) => `peer:${id}`), 'peer:holders'], `fan-out ${fanOut}`);
      assert.equal(expected.at(-1), ranked[0], 'the chain ends at the owner');
    }
  });

  test('unbounded fan-out is the owner-only layout; the owner asks the member ranked next, then holders', async () => {
    const names = (await sitePeers(deepest, Infinity).blobSources(route, digest, {})).map((source) => source.name);
    assert.deepEqual(names, [`peer:${ranked[0]}`, 'peer:holders']);
    const owner = members.indexOf(ranked[0] ?? '');
    assert.deepEqual((await sitePeers(owner, 1).blobSources(route, digest, {})).map((source) => source.name), [`peer:${ranked[1]}`, 'peer:holders']);
    // Fetching for that member, the owner asks the one after it instead.
    const forSuccessor = await sitePeers(owner, 1).blobSources(route, digest, { forPeer: ranked[1] ?? '' });
    assert.deepEqual(forSuccessor.map((source) => source.name), [`peer:${ranked[2]}`, 'peer:holders']);
  });

  test('a parent that failed is skipped: the tree closes over it', async () => {
    const health = new PeerHealth();
    const [parent, ...rest] = swarmPlace(digest.value, members[deepest] ?? '', members, 1).ancestors;
    health.reportFailure(parent ?? '');
    const names = (await sitePeers(deepest, 1, health).blobSources(route, digest, {})).map((source) => source.name);
    assert.equal(names[0], `peer:${rest[0]}`);
    assert.ok(!names.includes(`peer:${parent}`));
  });

  test('a fetch for a peer: refused unless the asker ranks below; upstream only at the owner', () => {
    const owner = members.indexOf(ranked[0] ?? '');
    const middle = members.indexOf(ranked[3] ?? '');
    assert.equal(sitePeers(middle, 1).relayRole(digest, ranked[5] ?? ''), 'relay');
    assert.equal(sitePeers(middle, 1).relayRole(digest, ranked[1] ?? ''), 'refuse', 'an asker above this node');
    assert.equal(sitePeers(middle, 1).relayRole(digest, members[middle] ?? ''), 'refuse', 'this node itself');
    assert.equal(sitePeers(owner, 1).relayRole(digest, ranked[1] ?? ''), 'owner');
    // Rank is a function of (id, digest) alone: an asker nobody has heard of is still ordered.
    assert.equal(sitePeers(owner, 1).relayRole(digest, 'stranger'), 'owner');
  });
});

describe('a chain of real nodes relays a cold layer', () => {
  const upstream = new LoopbackRegistry();
  let site: MemorySite;
  before(async () => {
    await upstream.start();
    site = await startMemorySite({ nodes: 4, upstreamUrl: upstream.url, args: ['--swarm-fan-out', '1'] });
  });
  after(async () => {
    await site.close();
    await upstream.stop();
  });
  const byId = (id: string): SiteNode => site.nodes.find((node) => node.id === id) ?? assert.fail(`no node ${id}`);
  const ids = (): string[] => site.nodes.map((node) => node.id);

  test('the last node of the chain pulls: every relay above it fetched through its own parent, the WAN was crossed once', async () => {
    const blob = randomBytes(1024 * 1024);
    const digest = upstream.addBlob(blob);
    const chain = order(digest, ids());
    const response = await fetch(`${byId(chain[3] ?? '').url}/v2/app/blobs/${digest}`);
    assert.equal(response.headers.get('x-edgepier-source'), 'peer');
    assert.equal(sha256((await readBody(response)).bytes), digest);
    for (const id of chain) await waitUntil(() => byId(id).holds('app', digest), `${id} holds the layer (it relayed it)`);
    assert.equal(upstream.blobGets(digest), 1, 'only the owner went upstream');
  });

  test('a relay asked by a node that ranks above it answers from its own content only', async () => {
    const digest = upstream.addBlob(randomBytes(64 * 1024));
    const chain = order(digest, ids());
    const before = upstream.requests.length;
    const control = await byId(chain[1] ?? '').peerGet(`/v2/app/blobs/${digest}`, { 'x-edgepier-peer': chain[2] ?? '', 'x-edgepier-owner-fetch': '1' });
    assert.equal(control.status, 200, 'control: asked by a node below it, the relay fetches');
    assert.equal(sha256(control.body), digest);
    const other = upstream.addBlob(randomBytes(64 * 1024));
    const otherChain = order(other, ids());
    const upper = await byId(otherChain[2] ?? '').peerGet(`/v2/app/blobs/${other}`, { 'x-edgepier-peer': otherChain[1] ?? '', 'x-edgepier-owner-fetch': '1' });
    assert.equal(upper.status, 404, 'asked by a node above it, it does not fetch (that could close a loop)');
    const owner = await byId(otherChain[0] ?? '').peerGet(`/v2/app/blobs/${other}`, { 'x-edgepier-peer': otherChain[0] ?? '', 'x-edgepier-owner-fetch': '1' });
    assert.equal(owner.status, 404, 'nor for a request naming itself as the asker');
    assert.equal(upstream.blobGets(other), 0);
    for (const id of ids()) assert.equal(await byId(id).holds('app', other), false, `${id} was not made to fetch`);
    assert.equal(upstream.requests.length - before, 1, 'only the control fetched, once');
  });
});

describe('relay edge cases', () => {
  const upstream = new LoopbackRegistry();
  before(() => upstream.start());
  after(() => upstream.stop());

  test('a relay whose ancestors lack the layer does not go upstream for a peer, only for its own client', async () => {
    const blob = randomBytes(256 * 1024);
    const digest = upstream.addBlob(blob);
    const site = await startMemorySite({ nodes: 1, upstreamUrl: upstream.url });
    // The owner: a neighbour that answers every blob with 404.
    const owner = idAbove(digest, 'empty-owner', 'node-1');
    const fake = await startFakePeer({ lan: site.lan, id: owner, behaviour: 'good', blobs: new Map() });
    try {
      const relay = site.nodes[0] ?? assert.fail('no node');
      await waitUntil(() => (relay.node.peerDiscovery?.peers().length ?? 0) === 1, 'owner seen');
      const asker = idBetween(digest, 'child', 'node-1');
      const forPeer = await relay.peerGet(`/v2/app/blobs/${digest}`, { 'x-edgepier-peer': asker, 'x-edgepier-owner-fetch': '1' });
      assert.equal(forPeer.status, 404, 'the relay asked its ancestor, which lacks it: a miss for the peer');
      assert.equal(fake.requests.length, 1, 'the ancestor was asked');
      assert.equal(upstream.blobGets(digest), 0, 'a peer alone never makes a non-owner cross the WAN');
      const own = await fetch(`${relay.url}/v2/app/blobs/${digest}`);
      assert.equal(sha256((await readBody(own)).bytes), digest, 'its own client is served, from upstream as a last resort');
      assert.equal(upstream.blobGets(digest), 1);
    } finally {
      await fake.close();
      await site.close();
    }
  });

  test('a relay cut mid-stream costs a resume at the next ancestor with Range, not a failed pull', async () => {
    const blob = randomBytes(1024 * 1024);
    const digest = upstream.addBlob(blob);
    const site = await startMemorySite({ nodes: 2, upstreamUrl: upstream.url, args: ['--swarm-fan-out', '1'] });
    try {
      const [top, bottom] = order(digest, ['node-1', 'node-2']);
      const relayId = idBetween(digest, 'flaky-relay', top ?? '', bottom);
      // The relay holds the layer but cuts every response at 40%.
      const relay = await startFakePeer({ lan: site.lan, id: relayId, behaviour: 'flaky', blobs: new Map([[digest, blob]]) });
      try {
        const child = site.nodes.find((node) => node.id === bottom) ?? assert.fail('no child');
        await waitUntil(() => site.nodes.every((node) => (node.node.peerDiscovery?.peers().length ?? 0) === 2), 'relay seen');
        const response = await fetch(`${child.url}/v2/app/blobs/${digest}`);
        const received = await readBody(response);
        assert.ok(received.complete, 'the pull did not fail');
        assert.equal(sha256(received.bytes), digest);
        // The child: its parent, one resume there, then the rest from the owner (which may
        // also try the cutting relay as a holder before it goes upstream).
        assert.ok(relay.requests.length >= 2, `the parent was asked, then asked to resume (${relay.requests.length} requests)`);
        assert.equal(upstream.blobGets(digest), 1, 'the owner fetched upstream once');
      } finally {
        await relay.close();
      }
    } finally {
      await site.close();
    }
  });
});

describe('redirect mode fetches a layer once', () => {
  test("a peer's fetch arriving while the owner's own client waits on the holder lookup joins it, not a second upstream GET", async () => {
    const upstream = new LoopbackRegistry();
    await upstream.start();
    const site = await startMemorySite({ nodes: 2, upstreamUrl: upstream.url, args: ['--peer-mode', 'redirect'] });
    try {
      let blob = randomBytes(1024 * 1024);
      while (order(sha256(blob), ['node-1', 'node-2'])[0] !== 'node-1') blob = randomBytes(1024 * 1024);
      const digest = upstream.addBlob(blob);
      // Slow enough that the download is still running when the 150 ms holder lookup ends.
      upstream.setBehaviour(digest, { kind: 'slow', chunk: 64 * 1024, intervalMs: 30 });
      const [owner] = site.nodes;
      assert.ok(owner);
      const [local, forPeer] = await Promise.all([
        fetch(`${owner.url}/v2/app/blobs/${digest}`).then(readBody),
        owner.peerGet(`/v2/app/blobs/${digest}`, { 'x-edgepier-peer': 'node-2', 'x-edgepier-owner-fetch': '1' }),
      ]);
      assert.equal(sha256(local.bytes), digest);
      assert.equal(sha256(forPeer.body), digest);
      assert.equal(upstream.blobGets(digest), 1);
    } finally {
      await site.close();
      await upstream.stop();
    }
  });
});

describe('an owner back from a restart follows the member that took over', () => {
  test('a node ranked above may follow a download fed by upstream, and the WAN is crossed once', async (t) => {
    const upstream = await startLoopbackRegistry(t);
    const site = await startMemorySite({ nodes: 1, upstreamUrl: upstream.url });
    const blob = randomBytes(1024 * 1024);
    const digest = upstream.addBlob(blob);
    // Slow, so the download is still running when the owner asks.
    upstream.setBehaviour(digest, { kind: 'slow', chunk: 64 * 1024, intervalMs: 20 });
    // The owner, back but empty: it answers every blob with 404, so node-1 took over upstream.
    const owner = idAbove(digest, 'restarted-owner', 'node-1');
    const fake = await startFakePeer({ lan: site.lan, id: owner, behaviour: 'good', blobs: new Map() });
    try {
      const taker = site.nodes[0] ?? assert.fail('no node');
      await waitUntil(() => (taker.node.peerDiscovery?.peers().length ?? 0) === 1, 'owner seen');
      const own = fetch(`${taker.url}/v2/app/blobs/${digest}`).then(readBody);
      await waitUntil(() => upstream.blobGets(digest) === 1, 'node-1 went upstream');
      const followed = await taker.peerGet(`/v2/app/blobs/${digest}`, { 'x-edgepier-peer': owner });
      assert.equal(followed.status, 200, 'the owner follows the upstream-fed download');
      assert.equal(sha256(followed.body), digest);
      assert.equal(sha256((await own).bytes), digest);
      assert.equal(upstream.blobGets(digest), 1, 'one upstream GET for both');
    } finally {
      await fake.close();
      await site.close();
    }
  });

  test('a node ranked above may not follow a download fed by the site: that could be itself, a loop', async (t) => {
    const upstream = await startLoopbackRegistry(t);
    const site = await startMemorySite({ nodes: 2, upstreamUrl: upstream.url, args: ['--swarm-fan-out', '1'] });
    try {
      const blob = randomBytes(1024 * 1024);
      const digest = upstream.addBlob(blob);
      // Half the layer, then the rest only when the test says: both downloads stay in flight.
      let release = (): void => undefined;
      upstream.setBehaviour(digest, { kind: 'held', fraction: 0.5, until: new Promise<void>((resolve) => (release = resolve)) });
      const [top, below] = order(digest, ['node-1', 'node-2']);
      const child = site.nodes.find((node) => node.id === below) ?? assert.fail('no child');
      await waitUntil(() => site.nodes.every((node) => (node.node.peerDiscovery?.peers().length ?? 0) === 1), 'mesh');
      // The child's client pulls: its download is fed by its parent, the owner. Once its
      // client has a first byte, that download is running on a source.
      const own = await fetch(`${child.url}/v2/app/blobs/${digest}`);
      assert.equal(own.headers.get('x-edgepier-source'), 'peer');
      const reader = own.body?.getReader() ?? assert.fail('no body');
      const first = await reader.read();
      assert.ok(first.value && first.value.length > 0);
      const fromAbove = await child.peerGet(`/v2/app/blobs/${digest}`, { 'x-edgepier-peer': top ?? '' });
      assert.equal(fromAbove.status, 404, 'the owner itself is not let follow what it feeds');
      const control = child.peerGet(`/v2/app/blobs/${digest}`, { 'x-edgepier-peer': idBetween(digest, 'lower', below ?? '') });
      release();
      const followed = await control;
      assert.equal(followed.status, 200, 'control: a node ranked below follows it');
      assert.equal(sha256(followed.body), digest);
      const chunks: Buffer[] = [Buffer.from(first.value)];
      for (let next = await reader.read(); !next.done; next = await reader.read()) chunks.push(Buffer.from(next.value));
      assert.equal(sha256(Buffer.concat(chunks)), digest);
      assert.equal(upstream.blobGets(digest), 1);
    } finally {
      await site.close();
    }
  });
});

describe('redirect mode never hands a runtime to a parent that is gone', () => {
  test('a parent that refuses connections is skipped and avoided; a live one gets the runtime', async (t) => {
    const upstream = await startLoopbackRegistry(t);
    const site = await startMemorySite({ nodes: 1, upstreamUrl: upstream.url, args: ['--peer-mode', 'redirect'] });
    const blob = randomBytes(64 * 1024);
    const digest = upstream.addBlob(blob);
    // A port nobody listens on: what a killed node's address answers until mDNS forgets it.
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const deadUrl = `http://127.0.0.1:${(closed.address() as AddressInfo).port}`;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const node = site.nodes[0] ?? assert.fail('no node');
    const dead = new MemoryDiscovery({ lan: site.lan, nodeId: idAbove(digest, 'killed-parent', 'node-1'), url: deadUrl });
    try {
      await dead.start();
      await waitUntil(() => (node.node.peerDiscovery?.peers().length ?? 0) === 1, 'parent seen');
      const response = await fetch(`${node.url}/v2/app/blobs/${digest}`, { redirect: 'manual' });
      assert.equal(response.status, 200, `not sent to the dead parent (${response.headers.get('location') ?? ''})`);
      assert.equal(sha256((await readBody(response)).bytes), digest);
    } finally {
      await dead.close();
    }
    // Control: a parent that answers gets the runtime.
    const other = upstream.addBlob(randomBytes(64 * 1024));
    const live = await startFakePeer({ lan: site.lan, id: idAbove(other, 'live-parent', 'node-1'), behaviour: 'good', blobs: new Map() });
    try {
      await waitUntil(() => node.node.peerDiscovery?.peers().some((peer) => peer.id === live.id) === true, 'live parent seen');
      const redirected = await fetch(`${node.url}/v2/app/blobs/${other}`, { redirect: 'manual' });
      assert.equal(redirected.status, 307);
      assert.ok(redirected.headers.get('location')?.startsWith(live.url), redirected.headers.get('location') ?? '');
      await redirected.body?.cancel();
    } finally {
      await live.close();
      await site.close();
    }
  });
});
