// /metrics, /healthz, /readyz and /status.json on a real node (the composition root), with a
// loopback upstream and an in-memory site LAN: numbers are checked against requests made.
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { describe, test, type TestContext } from 'node:test';
import { pino } from 'pino';
import { EdgePierNode } from '../cli/edgepier-node.js';
import { loadConfig } from '../config/load-config.js';
import { MemoryDiscovery, MemoryLan } from '../discovery/memory-discovery.js';
import type { StatusSnapshot } from '../server/status-snapshot.js';
import { LoopbackRegistry } from './support/loopback-registry.js';
import { makeTempDir } from './support/temp-dir.js';
import { pollUntil } from './support/child-process.js';
import { prometheusSample } from './support/prometheus-sample.js';

interface StartedNode {
  readonly node: EdgePierNode;
  readonly cacheDir: string;
  close(): Promise<void>;
}

async function startNode(t: TestContext, upstream: string, options: { lan?: MemoryLan; nodeId: string; extraArgs?: string[] }): Promise<StartedNode> {
  const cache = await makeTempDir('ops');
  const loaded = loadConfig({
    argv: ['--listen', '127.0.0.1:0', '--peer-listen', '127.0.0.1:0', '--cache-dir', cache.path, '--no-mdns', '--upstream', upstream, '--node-id', options.nodeId, ...(options.extraArgs ?? [])],
    env: {},
  });
  assert.ok(loaded.ok, JSON.stringify(loaded));
  const lan = options.lan;
  const node = new EdgePierNode(loaded.config, pino({ level: process.env.EDGEPIER_TEST_LOG ?? 'silent' }), {
    ...(lan ? { discovery: ({ nodeId, url }) => new MemoryDiscovery({ lan, nodeId, url }) } : {}),
  });
  await node.start();
  let closed = false;
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    await node.close();
    await cache.remove();
  };
  t.after(close);
  return { node, cacheDir: cache.path, close };
}

async function upstreamFor(t: TestContext): Promise<{ registry: LoopbackRegistry; layer: Buffer; layerDigest: string; brokenDigest: string }> {
  const registry = new LoopbackRegistry();
  const layer = Buffer.alloc(200_000, 7);
  const layerDigest = registry.addBlob(layer);
  const brokenDigest = registry.addBlob(Buffer.from('upstream will fail this one'));
  registry.setBehaviour(brokenDigest, { kind: 'status', status: 503 });
  registry.addManifest('team/app', 'v1', { schemaVersion: 2, layers: [{ digest: layerDigest, size: layer.length }] });
  await registry.start();
  t.after(() => registry.stop());
  return { registry, layer, layerDigest, brokenDigest };
}

async function getText(url: string): Promise<{ status: number; type: string; body: string }> {
  const response = await fetch(url);
  return { status: response.status, type: response.headers.get('content-type') ?? '', body: await response.text() };
}

describe('operations endpoints', () => {
  test('/metrics counts requests and bytes by source, hit ratio, cache size, upstream errors and latency', async (t) => {
    const { registry, layer, layerDigest, brokenDigest } = await upstreamFor(t);
    const { node } = await startNode(t, registry.url, { nodeId: 'metrics-node' });
    const blobUrl = `${node.url}/v2/team/app/blobs/${layerDigest}`;

    const manifest = await fetch(`${node.url}/v2/team/app/manifests/v1`);
    assert.equal(manifest.status, 200);
    const manifestBytes = (await manifest.arrayBuffer()).byteLength;
    for (const expected of ['upstream', 'cache', 'cache']) {
      const response = await fetch(blobUrl);
      assert.equal(response.headers.get('x-edgepier-source'), expected);
      assert.equal(Buffer.from(await response.arrayBuffer()).length, layer.length);
    }
    const head = await fetch(blobUrl, { method: 'HEAD' });
    assert.equal(head.status, 200);
    const broken = await fetch(`${node.url}/v2/team/app/blobs/${brokenDigest}`);
    assert.ok(broken.status >= 500, `upstream 503 surfaces as an error (${broken.status})`);
    await broken.arrayBuffer();

    // A request is counted when the server's side of it ends, which may be just after the
    // client has read the last byte.
    const metrics = await pollUntil('every request counted', async () => {
      const scraped = await getText(`${node.url}/metrics`);
      const blobRequests = ['cache', 'upstream'].map((source) => prometheusSample(scraped.body, 'edgepier_requests_total', { source, kind: 'blob' }) ?? 0);
      return blobRequests[0] === 3 && blobRequests[1] === 1 ? scraped : undefined;
    });
    assert.equal(metrics.status, 200);
    assert.match(metrics.type, /^text\/plain; version=0\.0\.4/);
    const text = metrics.body;
    assert.equal(prometheusSample(text, 'edgepier_requests_total', { source: 'upstream', kind: 'blob' }), 1);
    assert.equal(prometheusSample(text, 'edgepier_requests_total', { source: 'cache', kind: 'blob' }), 3, 'two GETs and a HEAD from cache');
    assert.equal(prometheusSample(text, 'edgepier_requests_total', { source: 'upstream', kind: 'manifest' }), 1);
    assert.equal(prometheusSample(text, 'edgepier_requests_total', { source: 'peer', kind: 'blob' }), 0, 'every source is exported from the start');
    assert.equal(prometheusSample(text, 'edgepier_served_bytes_total', { source: 'upstream', kind: 'blob' }), layer.length);
    assert.equal(prometheusSample(text, 'edgepier_served_bytes_total', { source: 'cache', kind: 'blob' }), 2 * layer.length, 'HEAD sends no body');
    assert.equal(prometheusSample(text, 'edgepier_served_bytes_total', { source: 'upstream', kind: 'manifest' }), manifestBytes);
    assert.equal(prometheusSample(text, 'edgepier_cache_hit_ratio'), 2 / 3, 'two of three blob GETs from cache');
    assert.equal(prometheusSample(text, 'edgepier_cache_size_bytes'), layer.length + manifestBytes, 'the layer and the manifest are cached');
    assert.equal(prometheusSample(text, 'edgepier_cache_blobs'), 2);
    assert.equal(prometheusSample(text, 'edgepier_cache_budget_bytes'), 0, 'unlimited');
    assert.equal(prometheusSample(text, 'edgepier_cache_evictions_total'), 0);
    assert.equal(prometheusSample(text, 'edgepier_inflight_downloads'), 0);
    assert.equal(prometheusSample(text, 'edgepier_peers'), 0);
    const registryLabel = /edgepier_upstream_requests_total\{registry="([^"]+)",status="200"\}/.exec(text)?.[1];
    assert.ok(registryLabel, 'upstream requests are labelled by registry');
    assert.ok((prometheusSample(text, 'edgepier_upstream_requests_total', { registry: registryLabel, status: '503' }) ?? 0) >= 1);
    assert.ok((prometheusSample(text, 'edgepier_upstream_errors_total', { registry: registryLabel, reason: '503' }) ?? 0) >= 1, 'a 503 is an upstream error');
    const latencyCount = prometheusSample(text, 'edgepier_upstream_response_seconds_count', { registry: registryLabel });
    assert.equal(latencyCount, registry.requests.length, 'one latency observation per upstream round trip');
    assert.ok(prometheusSample(text, 'process_resident_memory_bytes') !== undefined, 'process metrics are exported under their standard names');

    node.metrics.cacheEvicted(3, 4096);
    const after = (await getText(`${node.url}/metrics`)).body;
    assert.equal(prometheusSample(after, 'edgepier_cache_evictions_total'), 3, 'the counter the cache layer increments');
    assert.equal(prometheusSample(after, 'edgepier_cache_evicted_bytes_total'), 4096);
  });

  test('a connection refused upstream counts as an error with its code', async (t) => {
    const dead = new LoopbackRegistry();
    await dead.start();
    const url = dead.url;
    await dead.stop();
    const { node } = await startNode(t, url, { nodeId: 'refused-node', extraArgs: ['--upstream-timeout', '1s'] });
    const response = await fetch(`${node.url}/v2/team/app/blobs/sha256:${'a'.repeat(64)}`);
    assert.ok(response.status >= 500);
    await response.arrayBuffer();
    const text = (await getText(`${node.url}/metrics`)).body;
    assert.match(text, /edgepier_upstream_errors_total\{registry="[^"]+",reason="ECONNREFUSED"\} [1-9]/);
    assert.match(text, /edgepier_upstream_requests_total\{registry="[^"]+",status="error"\} [1-9]/);
  });

  test('peers seen: up/down transitions counted, the gauge and status.json follow discovery', async (t) => {
    const { registry } = await upstreamFor(t);
    const lan = new MemoryLan();
    const { node } = await startNode(t, registry.url, { lan, nodeId: 'node-a' });
    const other = await startNode(t, registry.url, { lan, nodeId: 'node-b' });
    const metricsText = async (): Promise<string> => (await getText(`${node.url}/metrics`)).body;
    await pollUntil('node-b seen', async () => (prometheusSample(await metricsText(), 'edgepier_peers') === 1 ? true : undefined));
    let status = (await (await fetch(`${node.url}/status.json`)).json()) as StatusSnapshot;
    assert.deepEqual(status.peers.map((peer) => [peer.id, peer.state, peer.url]), [['node-b', 'up', other.node.peerUrl]]);
    await other.close();
    await pollUntil('node-b gone', async () => (prometheusSample(await metricsText(), 'edgepier_peers') === 0 ? true : undefined));
    const text = await metricsText();
    assert.equal(prometheusSample(text, 'edgepier_peer_events_total', { event: 'up' }), 1);
    assert.equal(prometheusSample(text, 'edgepier_peer_events_total', { event: 'down' }), 1);
    status = (await (await fetch(`${node.url}/status.json`)).json()) as StatusSnapshot;
    assert.deepEqual(status.peers.map((peer) => [peer.id, peer.state]), [['node-b', 'down']], 'a peer that left stays listed as down');
  });

  test('/healthz answers while alive; /readyz names what is not ready', async (t) => {
    const { registry } = await upstreamFor(t);
    const started = await startNode(t, registry.url, { nodeId: 'health-node' });
    const url = started.node.url;
    const health = await getText(`${url}/healthz`);
    assert.equal(health.status, 200);
    assert.equal((JSON.parse(health.body) as { status: string }).status, 'ok');
    const ready = await getText(`${url}/readyz`);
    assert.equal(ready.status, 200, ready.body);
    assert.deepEqual(JSON.parse(ready.body), {
      status: 'ready',
      checks: [
        { name: 'listening', ok: true },
        { name: 'cache', ok: true },
        { name: 'discovery', ok: true },
      ],
    });
    await rm(started.cacheDir, { recursive: true, force: true });
    const notReady = await getText(`${url}/readyz`);
    assert.equal(notReady.status, 503);
    const report = JSON.parse(notReady.body) as { status: string; checks: Array<{ name: string; ok: boolean; detail?: string }> };
    assert.equal(report.status, 'not ready');
    const cache = report.checks.find((check) => check.name === 'cache');
    assert.equal(cache?.ok, false);
    assert.match(cache?.detail ?? '', /not writable \(ENOENT\)/);
    assert.equal((await getText(`${url}/healthz`)).status, 200, 'liveness does not depend on the disk');
    assert.equal((await fetch(`${url}/v2/`)).status, 200, 'the registry API is unchanged');
    const unknown = await getText(`${url}/nope`);
    assert.equal(unknown.status, 400);
    assert.match(unknown.body, /^\{"errors":\[\{"code":"PATH_INVALID"/, 'other paths are still OCI errors');
  });
});
