// The site view (issue 13, item 5) and the site prefetch request (item 6) on real nodes in
// this process (the CLI's composition root, real HTTP and TLS-PSK between them): every member
// shows up or down with what it holds of the images being pulled and what it is fetching;
// a dead member costs a bounded wait and shows as down; an open site refuses summaries and
// prefetches to anyone on its peer port; a member's answer is size-capped.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { MemoryDiscovery } from '../discovery/memory-discovery.js';
import { PeerClient } from '../peer/peer-client.js';
import { SITE_SUMMARY_PATH } from '../peer/site-summary.js';
import type { SiteSnapshot } from '../server/site-view.js';
import { renderSiteText } from '../cli/commands/site-status-text.js';
import { LoopbackRegistry } from './support/loopback-registry.js';
import { startMemorySite, type MemorySite, type SiteNode } from './support/memory-site.js';
import { OCI_MANIFEST_TYPE } from './support/oci-media-types.js';
import { openHttpStream } from '../upstream/open-http-stream.js';
import { waitUntil } from './support/wait-until.js';


function addImage(registry: LoopbackRegistry, repository: string, tag: string, layers: Buffer[]): { digest: string; layers: string[] } {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', tag }));
  const configDigest = registry.addBlob(config);
  const layerDigests = layers.map((layer) => registry.addBlob(layer));
  const manifest = registry.addManifest(repository, tag, {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST_TYPE,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
    layers: layers.map((layer, index) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: layerDigests[index], size: layer.length })),
  });
  return { digest: manifest.digest, layers: [configDigest, ...layerDigests] };
}

async function pullImage(url: string, repository: string, tag: string, digests: readonly string[]): Promise<void> {
  const manifest = await fetch(`${url}/v2/${repository}/manifests/${tag}`, { headers: { accept: OCI_MANIFEST_TYPE } });
  assert.equal(manifest.status, 200);
  await manifest.arrayBuffer();
  for (const digest of digests) {
    const blob = await fetch(`${url}/v2/${repository}/blobs/${digest}`);
    assert.equal(blob.status, 200);
    await blob.arrayBuffer();
  }
}

async function siteJson(node: SiteNode): Promise<SiteSnapshot> {
  const response = await fetch(`${node.url}/site.json`, { signal: AbortSignal.timeout(10_000) });
  assert.equal(response.status, 200);
  return (await response.json()) as SiteSnapshot;
}

describe('site view on a keyed site', () => {
  const upstream = new LoopbackRegistry();
  let site: MemorySite;
  const member = (index: number): SiteNode => site.nodes[index] ?? assert.fail('no such node');

  before(async () => {
    await upstream.start();
    site = await startMemorySite({ nodes: 3, upstreamUrl: upstream.url, siteKey: true });
  });
  after(async () => {
    await site.close();
    await upstream.stop();
  });

  test('every member, up, with what each holds of the image one of them pulled', async () => {
    const image = addImage(upstream, 'team/web', 'v1', [randomBytes(300_000), randomBytes(200_000)]);
    await pullImage(member(0).url, 'team/web', 'v1', image.layers);
    // The node counts a streamed blob once its response has finished, which can be a moment
    // after the client has read the last byte: wait for the count, failing at the deadline.
    const fetched = (snapshot: SiteSnapshot): number => {
      const bytes = snapshot.members.find((entry) => entry.id === 'node-1')?.summary?.servedBytes;
      return bytes === undefined ? 0 : bytes.upstream + bytes.peer + bytes.inflight;
    };
    await waitUntil(async () => fetched(await siteJson(member(2))) >= 500_000, "node 1's served bytes counted");
    // Seen from another node than the one that pulled: the view is the site's, not the node's.
    const view = await siteJson(member(2));
    assert.equal(view.keyed, true);
    assert.equal(view.note, undefined);
    assert.deepEqual(view.members.map((entry) => [entry.id, entry.state]).sort(), [['node-1', 'up'], ['node-2', 'up'], ['node-3', 'up']]);
    assert.equal(view.members.find((entry) => entry.self)?.id, 'node-3');
    const shown = view.images.find((entry) => entry.digest === image.digest) ?? assert.fail(`the image is in the view: ${JSON.stringify(view.images)}`);
    assert.equal(shown.name, 'team/web:v1');
    assert.equal(shown.layers, 3);
    assert.equal(shown.members['node-1']?.heldLayers, 3, 'the node that pulled holds all of it');
    // The owners of the layers fetched them for node 1 and hold them too: the view says who holds what.
    const heldElsewhere = (shown.members['node-2']?.heldLayers ?? 0) + (shown.members['node-3']?.heldLayers ?? 0);
    for (const id of ['node-2', 'node-3']) {
      const node = site.nodes.find((entry) => entry.id === id) ?? assert.fail(`no ${id}`);
      const holds = await Promise.all(image.layers.map((digest) => node.holds('team/web', digest)));
      assert.equal(shown.members[id]?.heldLayers, holds.filter(Boolean).length, `${id}: the view agrees with the member's own answers`);
    }
    assert.ok(heldElsewhere <= 3);
    const puller = view.members.find((entry) => entry.id === 'node-1')?.summary ?? assert.fail('node 1 summary');
    assert.ok(puller.servedBytes.upstream + puller.servedBytes.peer + puller.servedBytes.inflight >= 500_000, `bytes served by source: ${JSON.stringify(puller.servedBytes)}`);
    const text = renderSiteText(view);
    assert.match(text, /3 of 3 members up/);
    assert.match(text, /node-1\s+\[#{30}\]\s+100% 3\/3/);
  });

  test('a download in flight shows with its progress, then as held', async () => {
    let release: () => void = () => undefined;
    const until = new Promise<void>((resolve) => (release = resolve));
    const image = addImage(upstream, 'team/api', 'v2', [randomBytes(1_000_000)]);
    const layer = image.layers[1] ?? assert.fail('layer');
    upstream.setBehaviour(layer, { kind: 'held', fraction: 0.4, until });
    const pulling = pullImage(member(1).url, 'team/api', 'v2', image.layers);
    try {
      let seen: SiteSnapshot | undefined;
      await waitUntil(async () => {
        seen = await siteJson(member(0));
        return seen.members.some((entry) => entry.summary?.downloads.some((download) => download.digest === layer && download.receivedBytes >= 400_000));
      }, 'the held download in the site view', 15_000);
      const shown = seen?.images.find((entry) => entry.digest === image.digest) ?? assert.fail('image shown while it is being pulled');
      const arriving = Object.values(shown.members).reduce((sum, entry) => sum + entry.inflightBytes, 0);
      assert.ok(arriving >= 400_000, `arriving bytes shown: ${arriving}`);
    } finally {
      release();
    }
    await pulling;
    await waitUntil(async () => (await siteJson(member(0))).images.find((entry) => entry.digest === image.digest)?.members['node-2']?.heldLayers === 2, 'node 2 holds the image');
  });

  test('a member that accepts and never answers shows as down within the bound; the rest still show', async (t) => {
    const silent: NetServer = createNetServer((socket: Socket) => socket.on('error', () => undefined));
    const sockets = new Set<Socket>();
    silent.on('connection', (socket) => sockets.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    t.after(() => {
      for (const socket of sockets) socket.destroy();
      silent.close();
    });
    const ghost = new MemoryDiscovery({ lan: site.lan, nodeId: 'node-silent', url: `https://127.0.0.1:${(silent.address() as AddressInfo).port}` });
    await ghost.start();
    t.after(() => ghost.close());
    await waitUntil(() => site.nodes.every(({ node }) => node.peerDiscovery?.peers().some((peer) => peer.id === 'node-silent') === true), 'the silent member is discovered');
    const started = Date.now();
    const view = await siteJson(member(0));
    const elapsed = Date.now() - started;
    const ghostEntry = view.members.find((entry) => entry.id === 'node-silent') ?? assert.fail('listed');
    assert.equal(ghostEntry.state, 'down');
    assert.match(ghostEntry.problem ?? '', /no summary/);
    // A member gets 2 s per question, and one that did not answer is not asked twice.
    assert.ok(elapsed < 4_000, `answered in ${elapsed} ms`);
    assert.equal(view.members.filter((entry) => entry.state === 'up').length, 3);
  });

  test('the peer API gives the summary to members only: plain HTTP on a keyed site is 401', async () => {
    const plainUrl = member(0).peerUrl.replace('https://', 'http://');
    const response = await fetch(`${plainUrl}${SITE_SUMMARY_PATH}`);
    assert.equal(response.status, 401);
    assert.equal(((await response.json()) as { errors: Array<{ code: string }> }).errors[0]?.code, 'UNAUTHORIZED');
    const prefetch = await fetch(`${plainUrl}/edgepier/site/prefetch?image=team/web:v1`, { method: 'POST' });
    assert.equal(prefetch.status, 401);
  });

  test('bad input to the summary is an OCI error, not a crash', async () => {
    const bad = await member(0).peerGet(`${SITE_SUMMARY_PATH}?holds=not-a-digest`, {});
    assert.equal(bad.status, 400);
    assert.equal((JSON.parse(bad.body.toString('utf8')) as { errors: Array<{ code: string }> }).errors[0]?.code, 'DIGEST_INVALID');
    const many = Array.from({ length: 129 }, () => `sha256:${'a'.repeat(64)}`).join(',');
    const tooMany = await member(0).peerGet(`${SITE_SUMMARY_PATH}?holds=${many}`, {});
    assert.equal(tooMany.status, 400);
    const badImage = await fetch(`${member(0).url}/site/prefetch?image=${encodeURIComponent('UPPER/Case::x')}`, { method: 'POST' });
    assert.equal(badImage.status, 400);
    assert.equal(((await badImage.json()) as { errors: Array<{ code: string }> }).errors[0]?.code, 'NAME_INVALID');
  });

  test('prefetch across the site: every member holds the image, each blob crossed the WAN once', async () => {
    const image = addImage(upstream, 'team/batch', 'v3', [randomBytes(400_000), randomBytes(400_000), randomBytes(100_000)]);
    const response = await fetch(`${member(0).url}/site/prefetch?image=team/batch:v3&pin=1`, { method: 'POST' });
    assert.equal(response.status, 202);
    const fanout = (await response.json()) as { image: string; members: Array<{ id: string; accepted: boolean }> };
    assert.deepEqual(fanout.members.map((entry) => [entry.id, entry.accepted]).sort(), [['node-1', true], ['node-2', true], ['node-3', true]]);
    await waitUntil(
      async () => {
        const view = await siteJson(member(0));
        return ['node-1', 'node-2', 'node-3'].every((id) => view.members.find((entry) => entry.id === id)?.summary?.prefetches.find((job) => job.image === fanout.image)?.state === 'done');
      },
      'every member done',
      20_000,
    );
    for (const digest of image.layers) assert.equal(upstream.blobGets(digest), 1, `${digest} crossed the WAN once`);
    for (const node of site.nodes) for (const digest of image.layers) assert.ok(await node.holds('team/batch', digest), `${node.id} holds ${digest}`);
  });
});

describe('site view on an open site', () => {
  const upstream = new LoopbackRegistry();
  let site: MemorySite;
  const member = (index: number): SiteNode => site.nodes[index] ?? assert.fail('no such node');

  before(async () => {
    await upstream.start();
    site = await startMemorySite({ nodes: 2, upstreamUrl: upstream.url });
  });
  after(async () => {
    await site.close();
    await upstream.stop();
  });

  test('the peer port refuses summaries and prefetches to anyone (403 DENIED): they would name private content', async () => {
    const summary = await fetch(`${member(0).peerUrl}${SITE_SUMMARY_PATH}`);
    assert.equal(summary.status, 403);
    assert.deepEqual(((await summary.json()) as { errors: Array<{ code: string }> }).errors.map((error) => error.code), ['DENIED']);
    const before = upstream.requests.length;
    const prefetch = await fetch(`${member(0).peerUrl}/edgepier/site/prefetch?image=team/web:v1`, { method: 'POST' });
    assert.equal(prefetch.status, 403);
    assert.equal(((await prefetch.json()) as { errors: Array<{ code: string }> }).errors[0]?.code, 'DENIED');
    assert.equal(upstream.requests.length, before, 'nothing was fetched');
  });

  test('the client API shows this node and the members discovery names, and says why no more', async () => {
    const view = await siteJson(member(0));
    assert.equal(view.keyed, false);
    assert.match(view.note ?? '', /open site/);
    const other = view.members.find((entry) => entry.id === 'node-2') ?? assert.fail('node 2 listed');
    assert.equal(other.state, 'up');
    assert.equal(other.summary, undefined, 'no summary crosses an open site');
    assert.ok(view.members.find((entry) => entry.self)?.summary, 'this node\'s own figures');
    const page = await fetch(`${member(0).url}/site`);
    assert.match(await page.text(), /id="open-site"/);
  });
});

describe('peer client: a member\'s summary is size-capped', () => {
  let server: Server;
  let url = '';
  before(async () => {
    server = createServer((_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(`{"id":"x","pad":"${'z'.repeat(300 * 1024)}"}`);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  test('an answer over 256 KiB is refused, not buffered', async () => {
    const client = new PeerClient({ nodeId: 'me', peerTimeoutMs: 1_000, ownerFetchTimeoutMs: 1_000, logger: pino({ level: 'silent' }) });
    await assert.rejects(client.fetchSiteSummary({ id: 'big', url }, [], AbortSignal.timeout(5_000)), /oversized site summary/);
    const plain = await openHttpStream(`${url}/`, { method: 'GET', headers: {}, timeouts: { connectMs: 1_000, responseMs: 1_000, idleMs: 1_000 } });
    plain.body.destroy();
    assert.equal(plain.statusCode, 200, 'the fake does answer, so the refusal was the cap');
  });
});
