// Several real nodes on one (in-memory) LAN, with good and bad neighbours as real servers.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { rankByRendezvous } from '../peer/rendezvous.js';
import { startFakePeer, type PeerBehaviour } from './support/fake-peer.js';
import { LoopbackRegistry } from './support/loopback-registry.js';
import { startMemorySite, type MemorySite, type SiteNode } from './support/memory-site.js';
import { readBody } from './support/read-body.js';
import { waitUntil } from './support/wait-until.js';

const sha256 = (bytes: Buffer): string => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

/** Does the node hold `digest` locally? (A peer request is answered from local content only.) */
function holds(node: SiteNode, digest: string): Promise<boolean> {
  return node.holds('app', digest);
}

/** An id that rendezvous hashing ranks first for `digest` among `others`: the digest's owner. */
function owningId(digest: string, others: readonly string[], prefix: string): string {
  for (let attempt = 0; attempt < 10_000; attempt += 1) {
    const id = `${prefix}-${attempt}`;
    if (rankByRendezvous(digest, [...others, id].map((candidate) => ({ id: candidate })))[0]?.id === id) return id;
  }
  throw new Error('no owning id found');
}

for (const keyed of [false, true]) describe(`site peers${keyed ? ' with a site key (TLS-PSK)' : ' on an open site'}: nodes share layers`, () => {
  const upstream = new LoopbackRegistry();
  let site: MemorySite;

  before(async () => {
    await upstream.start();
    site = await startMemorySite({ nodes: 3, upstreamUrl: upstream.url, siteKey: keyed });
  });
  after(async () => {
    await site.close();
    await upstream.stop();
  });

  const node = (index: number): string => member(index).url;
  const member = (index: number): SiteNode => site.nodes[index] ?? assert.fail('no such node');

  test('a blob one node pulled is served to another by the peer, and then held there too', async () => {
    // A layer node 1 owns: had node 2 owned it, node 1's pull would have gone through node 2,
    // which would then rightly answer from its own cache.
    let blob = randomBytes(700 * 1024);
    const ids = site.nodes.map(({ id }) => ({ id }));
    while (rankByRendezvous(sha256(blob), ids)[0]?.id !== 'node-1') blob = randomBytes(700 * 1024);
    const digest = upstream.addBlob(blob);
    const first = await fetch(`${node(0)}/v2/app/blobs/${digest}`);
    assert.equal(sha256((await readBody(first)).bytes), digest);
    await waitUntil(() => holds(member(0), digest), 'node 1 commit');
    const second = await fetch(`${node(1)}/v2/app/blobs/${digest}`);
    assert.equal(second.headers.get('x-edgepier-source'), 'peer');
    assert.equal(sha256((await readBody(second)).bytes), digest);
    assert.equal(upstream.blobGets(digest), 1, 'the WAN carried the layer once');
    await waitUntil(() => holds(member(1), digest), 'node 2 holds the layer afterwards (proxy mode tees into its cache)');
  });

  test('three nodes asking for one cold layer at once: one upstream GET for the whole site', async () => {
    const blob = randomBytes(2 * 1024 * 1024);
    const digest = upstream.addBlob(blob);
    upstream.setBehaviour(digest, { kind: 'slow', chunk: 128 * 1024, intervalMs: 10 });
    const responses = await Promise.all(site.nodes.map(({ url }) => fetch(`${url}/v2/app/blobs/${digest}`)));
    const bodies = await Promise.all(responses.map(readBody));
    for (const received of bodies) assert.equal(sha256(received.bytes), digest);
    assert.equal(upstream.blobGets(digest), 1);
    const sources = responses.map((response) => response.headers.get('x-edgepier-source')).sort();
    assert.equal(sources.filter((source) => source === 'peer').length, 2, `two nodes fetched through the owner: ${sources.join(',')}`);
  });

  test('a peer request for something a node lacks is a fast 404 and never fans out', async () => {
    const digest = upstream.addBlob(randomBytes(1024));
    const before = upstream.requests.length;
    const started = Date.now();
    const response = await member(0).peerGet(`/v2/app/blobs/${digest}`, { 'x-edgepier-peer': 'node-9' });
    assert.equal(response.status, 404);
    assert.ok(Date.now() - started < 500, 'answered at once');
    assert.equal(upstream.requests.length, before, 'no upstream call');
    for (const other of site.nodes.slice(1)) assert.equal(await holds(other, digest), false, 'no peer was asked to fetch');
  });

  test("an owner fetch goes to upstream once and serves the asking peer, without asking other peers", async () => {
    // A layer node 3 owns: a node fetches for a peer only if the peer ranks below it.
    let blob = randomBytes(64 * 1024);
    const ids = site.nodes.map(({ id }) => ({ id }));
    while (rankByRendezvous(sha256(blob), ids)[0]?.id !== 'node-3') blob = randomBytes(64 * 1024);
    const digest = upstream.addBlob(blob);
    const response = await member(2).peerGet(`/v2/app/blobs/${digest}`, { 'x-edgepier-peer': 'node-1', 'x-edgepier-owner-fetch': '1' });
    assert.equal(response.status, 200);
    assert.equal(sha256(response.body), digest);
    assert.equal(upstream.blobGets(digest), 1);
  });
});

describe('bad neighbours cost a fallback, never wrong bytes', () => {
  const upstream = new LoopbackRegistry();
  before(() => upstream.start());
  after(() => upstream.stop());

  async function withBadOwner(behaviour: PeerBehaviour, run: (context: { nodeUrl: string; digest: string; blob: Buffer; peerRequests: string[] }) => Promise<void>): Promise<void> {
    const blob = randomBytes(512 * 1024);
    const digest = upstream.addBlob(blob);
    const site = await startMemorySite({ nodes: 1, upstreamUrl: upstream.url });
    const peer = await startFakePeer({ lan: site.lan, id: owningId(digest, ['node-1'], behaviour), behaviour, blobs: new Map([[digest, blob]]) });
    try {
      await waitUntil(() => (site.nodes[0]?.node.peerDiscovery?.peers().length ?? 0) === 1, 'peer seen');
      await run({ nodeUrl: site.nodes[0]?.url ?? '', digest, blob, peerRequests: peer.requests });
    } finally {
      await peer.close();
      await site.close();
    }
  }

  test('a silent owner costs a bounded delay; the bytes come from upstream', async () => {
    await withBadOwner('silent', async ({ nodeUrl, digest, peerRequests }) => {
      const started = Date.now();
      const response = await fetch(`${nodeUrl}/v2/app/blobs/${digest}`);
      assert.equal(sha256((await readBody(response)).bytes), digest);
      assert.ok(Date.now() - started < 5_000, `bounded by the peer timeout (${Date.now() - started} ms)`);
      assert.equal(peerRequests.length, 1, 'the silent owner was asked');
      assert.equal(upstream.blobGets(digest), 1);
    });
  });

  test('a flaky owner cut at 40%: the rest is resumed from upstream with a Range request', async () => {
    await withBadOwner('flaky', async ({ nodeUrl, digest, blob }) => {
      const response = await fetch(`${nodeUrl}/v2/app/blobs/${digest}`);
      const received = await readBody(response);
      assert.ok(received.complete);
      assert.equal(sha256(received.bytes), digest);
      const upstreamGets = upstream.requests.filter((request) => request.method === 'GET' && request.path.endsWith(digest));
      assert.equal(upstreamGets.length, 1);
      const resumedFrom = Number(/^bytes=(\d+)-$/.exec(upstreamGets[0]?.range ?? '')?.[1] ?? 0);
      assert.ok(resumedFrom >= Math.floor(blob.length * 0.4) - 1, `resumed at ${resumedFrom}, not from 0`);
    });
  });

  test('a lying owner: the client never receives a complete wrong body, the liar is then avoided and the retry is right', async () => {
    await withBadOwner('lying', async ({ nodeUrl, digest, blob, peerRequests }) => {
      // Failing before the headers went out is a failed fetch; after, a cut body. Both are fine.
      const first = await fetch(`${nodeUrl}/v2/app/blobs/${digest}`).then(readBody, () => ({ bytes: Buffer.alloc(0), complete: false }));
      assert.ok(!(first.complete && first.bytes.length === blob.length), 'no complete response of unverified bytes');
      assert.notEqual(sha256(first.bytes), sha256(Buffer.from(blob.map((byte) => byte ^ 0x5a))));
      const askedLiar = peerRequests.length;
      const retry = await readBody(await fetch(`${nodeUrl}/v2/app/blobs/${digest}`));
      assert.ok(retry.complete);
      assert.equal(sha256(retry.bytes), digest);
      assert.equal(peerRequests.length, askedLiar, 'the liar is not asked again');
    });
  });
});

describe('redirect mode', () => {
  for (const keyed of [false, true]) test(`sends the client to the peer that holds the layer${keyed ? ', with a signed ticket on a keyed site' : ''}`, async () => {
    const upstream = new LoopbackRegistry();
    await upstream.start();
    const site = await startMemorySite({ nodes: 2, upstreamUrl: upstream.url, args: ['--peer-mode', 'redirect'], siteKey: keyed });
    try {
      const [first, second] = site.nodes;
      assert.ok(first && second);
      // Pick a layer whose owner is node 1, so node 2 (not the owner) redirects there.
      let blob = randomBytes(1024);
      while (rankByRendezvous(sha256(blob), [{ id: 'node-1' }, { id: 'node-2' }])[0]?.id !== 'node-1') blob = randomBytes(1024);
      const digest = upstream.addBlob(blob);
      const direct = await fetch(`${first.url}/v2/app/blobs/${digest}`);
      assert.equal(direct.status, 200, 'the owner itself serves directly');
      assert.equal(sha256((await readBody(direct)).bytes), digest);
      const redirected = await fetch(`${second.url}/v2/app/blobs/${digest}`, { redirect: 'manual' });
      assert.equal(redirected.status, 307);
      const location = redirected.headers.get('location') ?? '';
      const plainPeerUrl = first.peerUrl.replace(/^https:/, 'http:');
      assert.ok(location.startsWith(`${plainPeerUrl}/v2/app/blobs/${digest}?`), location);
      if (keyed) {
        assert.match(location, /edgepier-ticket=/);
        const forged = location.replace(/edgepier-ticket=[^&]+/, 'edgepier-ticket=AAAA');
        assert.equal((await fetch(forged)).status, 401, 'a forged ticket is refused');
        const otherBlob = location.replace(digest, sha256(randomBytes(8)));
        assert.equal((await fetch(otherBlob)).status, 401, 'a ticket names one blob only');
        const bare = `${plainPeerUrl}/v2/app/blobs/${digest}?ns=${encodeURIComponent(new URL(location).searchParams.get('ns') ?? '')}`;
        assert.equal((await fetch(bare)).status, 401, 'no plain-HTTP peer request without a ticket');
      }
      const followed = await fetch(`${second.url}/v2/app/blobs/${digest}`);
      assert.equal(sha256((await readBody(followed)).bytes), digest);
      assert.equal(upstream.blobGets(digest), 1);
    } finally {
      await site.close();
      await upstream.stop();
    }
  });
});

describe('an offline site still starts its images', () => {
  const cases = [
    { keyed: true, upstream: 'down' },
    { keyed: true, upstream: '429' },
    { keyed: false, upstream: 'down' },
    { keyed: false, upstream: '429' },
  ] as const;
  for (const { keyed, upstream: failure } of cases) test(keyed ? `with upstream ${failure}, a member resolves a tag through another member and pulls layers from it` : `on an open site with upstream ${failure}, a tag is never taken from a peer`, async () => {
    const upstream = new LoopbackRegistry();
    await upstream.start();
    const site = await startMemorySite({ nodes: 2, upstreamUrl: upstream.url, siteKey: keyed });
    try {
      const [first, second] = site.nodes;
      assert.ok(first && second);
      const layer = randomBytes(300 * 1024);
      const layerDigest = upstream.addBlob(layer);
      const { digest, body: manifest } = upstream.addManifest('app', 'v1', {
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        layers: [{ digest: layerDigest, size: layer.length }],
      });
      assert.equal((await fetch(`${first.url}/v2/app/manifests/v1`)).status, 200);
      assert.equal(sha256((await readBody(await fetch(`${first.url}/v2/app/blobs/${layerDigest}`))).bytes), layerDigest);
      await waitUntil(() => holds(first, layerDigest), 'node 1 holds the layer');
      // A host on the LAN can make Docker Hub answer 429 by burning the site's anonymous quota.
      if (failure === 'down') await upstream.stop();
      else upstream.setBehaviour('app:v1', { kind: 'status', status: 429 });
      const tag = await fetch(`${second.url}/v2/app/manifests/v1`);
      if (!keyed) {
        assert.equal(tag.status, failure === 'down' ? 502 : 429, 'upstream failed and no peer is trusted with a tag');
        return;
      }
      assert.equal(tag.status, 200);
      assert.equal(tag.headers.get('docker-content-digest'), digest);
      assert.equal(tag.headers.get('x-edgepier-stale'), 'true; member=node-1');
      assert.deepEqual((await readBody(tag)).bytes, manifest);
      const pulledLayer = await fetch(`${second.url}/v2/app/blobs/${layerDigest}`);
      assert.equal(pulledLayer.status, 200);
      assert.equal(sha256((await readBody(pulledLayer)).bytes), layerDigest);
    } finally {
      await site.close();
      await upstream.stop();
    }
  });
});

describe('an open site shares only what was fetched anonymously', () => {
  test('content pulled with credentials is neither served to peers, under any name, nor asked of them', async () => {
    const privateUpstream = new LoopbackRegistry();
    const publicUpstream = new LoopbackRegistry();
    await privateUpstream.start();
    await publicUpstream.start();
    const privateHost = new URL(privateUpstream.url).host;
    const site = await startMemorySite({
      nodes: 2,
      upstreamUrl: privateUpstream.url,
      args: ['--upstream', `public.test=${publicUpstream.url}`],
      env: { EDGEPIER_CREDENTIALS: JSON.stringify({ [privateHost]: { username: 'robot', password: 'secret' } }) },
    });
    try {
      const [first, second] = site.nodes;
      assert.ok(first && second);
      const blob = randomBytes(64 * 1024);
      const digest = privateUpstream.addBlob(blob);
      publicUpstream.addBlob(blob);
      const pulled = await fetch(`${first.url}/v2/app/blobs/${digest}`);
      assert.equal(sha256((await readBody(pulled)).bytes), digest);
      const committed = async (path: string): Promise<boolean> => (await fetch(`${first.url}${path}`, { method: 'HEAD' })).headers.get('x-edgepier-source') === 'cache';
      await waitUntil(() => committed(`/v2/app/blobs/${digest}`), 'node 1 committed the private blob');
      // The control: a blob node 1 fetched anonymously is served to anyone who asks.
      const open = randomBytes(32 * 1024);
      const openDigest = publicUpstream.addBlob(open);
      assert.equal(sha256((await readBody(await fetch(`${first.url}/v2/public.test/app/blobs/${openDigest}`))).bytes), openDigest);
      await waitUntil(() => committed(`/v2/public.test/app/blobs/${openDigest}`), 'node 1 committed the public blob');
      const shared = await first.peerGet(`/v2/public.test/app/blobs/${openDigest}`, { 'x-edgepier-peer': 'anyone' });
      assert.equal(shared.status, 200, 'anonymous content is shared on an open site');

      const byPrivateName = await first.peerGet(`/v2/app/blobs/${digest}`, { 'x-edgepier-peer': 'anyone' });
      assert.equal(byPrivateName.status, 403, 'no peer request is served for a registry this node pulls with credentials');
      assert.equal((JSON.parse(byPrivateName.body.toString()) as { errors: { code: string }[] }).errors[0]?.code, 'DENIED');
      const byPublicName = await first.peerGet(`/v2/public.test/app/blobs/${digest}`, { 'x-edgepier-peer': 'anyone' });
      assert.equal(byPublicName.status, 404, 'nor are its bytes under an anonymous registry\'s name');
      const ownerFetch = await first.peerGet(`/v2/app/blobs/sha256:${'cd'.repeat(32)}`, { 'x-edgepier-peer': 'anyone', 'x-edgepier-owner-fetch': '1' });
      assert.equal(ownerFetch.status, 403, 'no fetch with credentials for a peer');

      const second1 = await fetch(`${second.url}/v2/app/blobs/${digest}`);
      assert.equal(second1.headers.get('x-edgepier-source'), 'upstream', 'node 2 does not ask its peers for private content');
      assert.equal(sha256((await readBody(second1)).bytes), digest);
      assert.equal(privateUpstream.blobGets(digest), 2);
      assert.equal(publicUpstream.blobGets(digest), 0);
      assert.equal(publicUpstream.blobGets(openDigest), 1);
    } finally {
      await site.close();
      await privateUpstream.stop();
      await publicUpstream.stop();
    }
  });
});

describe('a tag list offline', () => {
  for (const keyed of [true, false]) test(keyed ? 'a member that never listed the tags gets them from another member, marked stale' : 'an open site never takes a tag list from a peer', async () => {
    const upstream = new LoopbackRegistry();
    await upstream.start();
    const site = await startMemorySite({ nodes: 2, upstreamUrl: upstream.url, siteKey: keyed });
    try {
      const [first, second] = site.nodes;
      assert.ok(first && second);
      for (const tag of ['v1', 'v2']) upstream.addManifest('app', tag, { schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', layers: [], tag });
      for (const tag of ['v1', 'v2']) assert.equal((await fetch(`${first.url}/v2/app/manifests/${tag}`)).status, 200);
      await upstream.stop();
      const listed = await fetch(`${second.url}/v2/app/tags/list`);
      if (!keyed) {
        assert.equal(listed.status, 502, 'upstream is down, this node knows no tags, and peers are not asked');
        return;
      }
      assert.equal(listed.status, 200);
      assert.equal(listed.headers.get('x-edgepier-stale'), 'true');
      assert.deepEqual(await listed.json(), { name: 'app', tags: ['v1', 'v2'] });
    } finally {
      await site.close();
      await upstream.stop();
    }
  });
});
