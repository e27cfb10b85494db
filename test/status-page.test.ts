// The status page, /status.json and `edgepier status` on a real node: recent pulls with their
// sources, peers with their state, cache use; everything that came from the network escaped.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { statusCommand } from '../cli/commands/status.js';
import type { EdgePierNode } from '../cli/edgepier-node.js';
import { MemoryDiscovery } from '../discovery/memory-discovery.js';
import { escapeHtml } from '../server/status-page.js';
import { RecentPulls } from '../server/status-recent-pulls.js';
import type { StatusSnapshot } from '../server/status-snapshot.js';
import { pollUntil } from './support/child-process.js';
import { startNodeWithLayer } from './support/node-with-layer.js';
import { runCommand } from './support/run-command.js';

const HOSTILE_ID = '<img src=x onerror=alert(1)>';
const HOSTILE_URL = 'http://127.0.0.9:5000/"><script>alert(2)</script>';

interface Fixture {
  readonly node: EdgePierNode;
  readonly layerDigest: string;
  readonly layerBytes: number;
}

async function nodeWithHistory(t: TestContext): Promise<Fixture> {
  const layer = Buffer.alloc(300_000, 3);
  const { node, lan, layerDigest } = await startNodeWithLayer(t, { nodeId: 'edge-01', cacheMaxSize: '1MiB', repository: 'site/app', tag: 'v1', layer });
  const friendly = new MemoryDiscovery({ lan, nodeId: 'edge-02', url: 'http://127.0.0.2:5000' });
  const hostile = new MemoryDiscovery({ lan, nodeId: HOSTILE_ID, url: HOSTILE_URL });
  await friendly.start();
  await hostile.start();
  t.after(() => hostile.close());
  await pollUntil('peers seen', () => Promise.resolve(node.peerDiscovery?.peers().length === 2 ? true : undefined));
  await friendly.close();
  await pollUntil('edge-02 down', () => Promise.resolve(node.peerDiscovery?.peers().length === 1 ? true : undefined));

  assert.equal((await fetch(`${node.url}/v2/site/app/manifests/v1`)).status, 200);
  for (let i = 0; i < 3; i += 1) await (await fetch(`${node.url}/v2/site/app/blobs/${layerDigest}`)).arrayBuffer();
  // A request is recorded when the server's side of it ends, which may be just after the
  // client has read the last byte.
  await pollUntil('four pulls recorded', async () => {
    const status = (await (await fetch(`${node.url}/status.json`)).json()) as StatusSnapshot;
    return status.recentPulls.length === 4 ? true : undefined;
  });
  return { node, layerDigest, layerBytes: layer.length };
}

describe('status', () => {
  test('/status.json: peers with state, cache against its budget, hit ratio, recent pulls and their sources', async (t) => {
    const { node, layerDigest, layerBytes } = await nodeWithHistory(t);
    const response = await fetch(`${node.url}/status.json`);
    assert.equal(response.status, 200);
    const status = (await response.json()) as StatusSnapshot;
    assert.equal(status.node.id, 'edge-01');
    assert.deepEqual(status.peers.map((peer) => [peer.id, peer.state]), [[HOSTILE_ID, 'up'], ['edge-02', 'down']]);
    assert.equal(status.cache.budgetBytes, 1024 * 1024);
    assert.ok(status.cache.usedBytes > layerBytes);
    assert.equal(status.cache.usedShare, status.cache.usedBytes / (1024 * 1024));
    assert.equal(status.cache.hitRatio, 2 / 3);
    const pulls = status.recentPulls;
    assert.deepEqual(
      pulls.map((pull) => [pull.kind, pull.repository, pull.source, pull.bytes]),
      [
        ['blob', 'site/app', 'cache', layerBytes],
        ['blob', 'site/app', 'cache', layerBytes],
        ['blob', 'site/app', 'upstream', layerBytes],
        ['manifest', 'site/app', 'upstream', pulls[3]?.bytes],
      ],
      'newest first, /status.json itself not listed',
    );
    assert.equal(pulls[0]?.digest, layerDigest);
    assert.equal(status.recentBytes.cache, 2 * layerBytes);
    assert.equal(status.recentBytes.upstream, layerBytes + (pulls[3]?.bytes ?? 0));
  });

  test('the HTML page is server-rendered, escapes what peers and clients sent, and runs no script', async (t) => {
    const { node } = await nodeWithHistory(t);
    const response = await fetch(`${node.url}/`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^text\/html/);
    assert.match(response.headers.get('content-security-policy') ?? '', /default-src 'none'/);
    const html = await response.text();
    assert.ok(!html.includes('<img') && !html.includes('<script'), 'no markup from a peer reaches the page');
    assert.ok(html.includes(escapeHtml(HOSTILE_ID)), 'the hostile peer id is shown, escaped');
    assert.ok(html.includes(escapeHtml(HOSTILE_URL)));
    assert.match(html, /<code id="node-id">edge-01<\/code>/);
    assert.match(html, /<table id="pulls">/);
    assert.match(html, /<table id="peers">/);
    assert.equal(escapeHtml(`<a href="x">'&'</a>`), '&#60;a href=&#34;x&#34;&#62;&#39;&#38;&#39;&#60;/a&#62;');
  });

  test('edgepier status prints the same, in a terminal; --json passes the JSON through', async (t) => {
    const { node } = await nodeWithHistory(t);
    let out = '';
    let err = '';
    const io = { out: (text: string) => (out += text), err: (text: string) => (err += text) };
    assert.equal(await statusCommand(['--url', node.url], io), 0, err);
    assert.match(out, /^EdgePier node edge-01, up /);
    assert.match(out, /hit ratio +66\.7% of blob GETs from cache/);
    assert.match(out, /budget 1\.00 MiB \(\d+\.\d% used\)/);
    assert.match(out, /peers \(1 up\)/);
    assert.match(out, /edge-02 +http:\/\/127\.0\.0\.2:5000 +down/);
    assert.match(out, /recent pulls \(4\)/);
    assert.match(out, /GET +site\/app +sha256:[0-9a-f]{12}… +cache +293\.0 KiB +200/);
    out = '';
    assert.equal(await statusCommand([`--url=${node.url}`, '--json'], io), 0);
    assert.equal((JSON.parse(out) as StatusSnapshot).node.id, 'edge-01');
    err = '';
    assert.equal(await statusCommand(['--url', 'http://127.0.0.1:1'], io), 1);
    assert.match(err, /cannot reach http:\/\/127\.0\.0\.1:1\/status\.json/);
    assert.equal(await statusCommand(['--bogus'], io), 2);

    const cli = await runCommand(process.execPath, ['--import', 'tsx', join(import.meta.dirname, '..', 'cli', 'main.ts'), 'status', '--url', node.url], { timeoutMs: 30_000 });
    assert.match(cli.stdout.toString('utf8'), /^EdgePier node edge-01/, 'the real CLI dispatches `status`');
  });

  test('the recent-pulls ring keeps the last N, newest first', () => {
    const ring = new RecentPulls(3);
    for (let i = 0; i < 5; i += 1) {
      ring.record({ method: 'GET', path: `/v2/app/manifests/t${i}`, status: 200, ms: 1, at: i * 1000, facts: { source: 'cache', bytes: i } });
    }
    ring.record({ method: 'GET', path: '/metrics', status: 200, ms: 1, at: 0, facts: {} });
    assert.deepEqual(ring.list().map((pull) => pull.reference), ['t4', 't3', 't2']);
  });
});
