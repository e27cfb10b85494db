// The metrics that tell the product's story, on a real node (the composition root) with a
// loopback upstream: four concurrent pulls of one layer cross the "WAN" once, and /metrics
// shows it (one `upstream` request, three `inflight`, upstream bytes = one layer); the
// standard process/nodejs series, build info, and the transparent proxy's CONNECT outcomes.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { pino } from 'pino';
import { EdgePierNode } from '../cli/edgepier-node.js';
import { loadConfig } from '../config/load-config.js';
import { PrometheusMetrics } from '../server/metrics-prometheus.js';
import { pollUntil } from './support/child-process.js';
import { LoopbackRegistry } from './support/loopback-registry.js';
import { openTunnel, rawExchange } from './support/proxy-client.js';
import { makeTempDir } from './support/temp-dir.js';
import { prometheusSample } from './support/prometheus-sample.js';

async function startNode(t: TestContext, args: string[]): Promise<EdgePierNode> {
  const cache = await makeTempDir('metrics');
  const loaded = loadConfig({ argv: ['--listen', '127.0.0.1:0', '--cache-dir', cache.path, '--no-mdns', '--node-id', 'metrics-wan', ...args], env: {} });
  assert.ok(loaded.ok, JSON.stringify(loaded));
  const node = new EdgePierNode(loaded.config, pino({ level: process.env.EDGEPIER_TEST_LOG ?? 'silent' }));
  await node.start();
  t.after(async () => {
    await node.close();
    await cache.remove();
  });
  return node;
}

async function scrape(node: EdgePierNode): Promise<string> {
  const response = await fetch(`${node.url}/metrics`);
  assert.equal(response.status, 200);
  return response.text();
}

describe('metrics', () => {
  test('four concurrent pulls of one layer: one upstream fetch, three joined as inflight, the WAN bytes counted once', async (t) => {
    const registry = new LoopbackRegistry();
    const layer = Buffer.alloc(300_000, 5);
    const digest = registry.addBlob(layer);
    // Slow enough (about 0.3 s) that every request arrives while the one download runs.
    registry.setBehaviour(digest, { kind: 'slow', chunk: 30_000, intervalMs: 30 });
    await registry.start();
    t.after(() => registry.stop());
    const node = await startNode(t, ['--upstream', registry.url]);

    const bodies = await Promise.all(
      Array.from({ length: 4 }, async () => {
        const response = await fetch(`${node.url}/v2/team/app/blobs/${digest}`);
        assert.equal(response.status, 200);
        return Buffer.from(await response.arrayBuffer());
      }),
    );
    for (const body of bodies) assert.ok(body.equals(layer));
    assert.equal(registry.blobGets(digest), 1, 'the upstream served the layer once');

    // Requests are counted when the server's side ends, just after the client read the last byte.
    const text = await pollUntil('all four pulls counted', async () => {
      const scraped = await scrape(node);
      const counted = ['upstream', 'inflight'].map((source) => prometheusSample(scraped, 'edgepier_requests_total', { source, kind: 'blob' }) ?? 0);
      return (counted[0] ?? 0) + (counted[1] ?? 0) === 4 ? scraped : undefined;
    });
    assert.equal(prometheusSample(text, 'edgepier_requests_total', { source: 'upstream', kind: 'blob' }), 1, 'the request that started the download');
    assert.equal(prometheusSample(text, 'edgepier_requests_total', { source: 'inflight', kind: 'blob' }), 3, 'the three that joined it');
    assert.equal(prometheusSample(text, 'edgepier_served_bytes_total', { source: 'inflight', kind: 'blob' }), 3 * layer.length);
    const registryLabel = /edgepier_upstream_bytes_total\{registry="([^"]+)"\}/.exec(text)?.[1];
    assert.ok(registryLabel, 'upstream bytes are labelled by registry');
    assert.equal(prometheusSample(text, 'edgepier_upstream_bytes_total', { registry: registryLabel }), layer.length, 'the WAN carried the layer once');
  });

  test('standard process_* and nodejs_* names, no edgepier_process_*; edgepier_build_info carries the version', async (t) => {
    const node = await startNode(t, ['--upstream', 'http://127.0.0.1:9']);
    const text = await scrape(node);
    assert.ok(prometheusSample(text, 'process_cpu_seconds_total') !== undefined);
    assert.ok(prometheusSample(text, 'process_resident_memory_bytes') !== undefined);
    assert.ok(prometheusSample(text, 'nodejs_eventloop_lag_seconds') !== undefined);
    assert.doesNotMatch(text, /^edgepier_(process|nodejs)_/m);
    const { version } = JSON.parse(await readFile(join(import.meta.dirname, '..', 'package.json'), 'utf8')) as { version: string };
    assert.equal(prometheusSample(text, 'edgepier_build_info', { version, nodejs_version: process.versions.node }), 1);
  });

  test('transparent mode counts CONNECTs: intercepted and refused (allowed tunnels: transparent-boundary)', async (t) => {
    // A loopback TCP server: the proxy must refuse to tunnel there (loopback is never a target),
    // and counts it as refused. An allowed tunnel needs another host: the namespace test counts it.
    const other = createServer((socket) => socket.end());
    await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
    t.after(() => new Promise<void>((resolve) => other.close(() => resolve())));
    const otherPort = (other.address() as AddressInfo).port;
    // registry.example is intercepted on 443: the CONNECT is answered locally, nothing is dialled.
    const node = await startNode(t, ['--upstream', 'http://127.0.0.1:9', '--upstream', 'registry.example=https://registry.example', '--proxy-listen', '127.0.0.1:0']);
    const proxyPort = Number(new URL(node.proxyUrl ?? '').port);

    (await openTunnel(proxyPort, 'registry.example:443')).destroy();
    assert.equal((await rawExchange(proxyPort, `CONNECT 127.0.0.1:${otherPort} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`)).status, 403);
    assert.equal((await rawExchange(proxyPort, 'CONNECT registry.example:8443 HTTP/1.1\r\nHost: registry.example:8443\r\n\r\n')).status, 403);
    assert.equal((await rawExchange(proxyPort, 'CONNECT not-a-target HTTP/1.1\r\nHost: x\r\n\r\n')).status, 400);

    const text = await scrape(node);
    assert.equal(prometheusSample(text, 'edgepier_proxy_connects_total', { outcome: 'intercepted' }), 1);
    assert.equal(prometheusSample(text, 'edgepier_proxy_connects_total', { outcome: 'tunnelled' }), 0);
    assert.equal(prometheusSample(text, 'edgepier_proxy_connects_total', { outcome: 'refused' }), 3);
  });

  test('the README\'s metrics table names every series, and nothing else', async () => {
    const readme = await readFile(join(import.meta.dirname, '..', 'README.md'), 'utf8');
    const table = readme.slice(readme.indexOf('<!-- metrics-table:start -->'), readme.indexOf('<!-- metrics-table:end -->'));
    const documented = [...table.matchAll(/^\| `(edgepier_[a-z_]+)` \|/gm)].map((match) => match[1]);
    const metrics = new PrometheusMetrics({ cacheUsage: () => Promise.resolve({ usedBytes: 0, blobs: 0, budgetBytes: null }), processMetrics: false });
    const exported = (await metrics.registry.getMetricsAsJSON()).map((metric) => metric.name);
    assert.deepEqual([...documented].sort(), [...exported].sort());
    assert.match(table, /`process_\*`, `nodejs_\*`/);
    const withDefaults = new PrometheusMetrics({ processMetrics: true });
    const extra = (await withDefaults.registry.getMetricsAsJSON()).map((metric) => metric.name).filter((name) => !name.startsWith('edgepier_'));
    assert.ok(extra.length > 0 && extra.every((name) => name.startsWith('process_') || name.startsWith('nodejs_')), extra.join(', '));
  });
});
