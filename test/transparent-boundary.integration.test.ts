// Issue 11, the proxy side of the trust boundary, with real processes in network namespaces on
// one bridge: the EdgePier CLI in the node namespace, its proxy on the node's LAN address and
// --client-allow naming only the client namespace; an attacker namespace on the same LAN; a
// host namespace with a counting listener; a real docker-registry as the cloud. The attacker
// gets 403 for everything and reaches nothing; the allowed client pulls through the proxy, but
// cannot use it to reach the node's loopback services, its metadata address or its own ports.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { netnsUnavailableReason, type SiteNamespace } from './support/netns.js';
import { runCommand } from './support/run-command.js';
import { startCloudRegistry } from './support/site-cloud-registry.js';
import { EDGEPIER_PORT, startSiteEdgePier } from './support/site-edgepier.js';
import { NamespaceProcess } from './support/site-namespace-process.js';
import { expectedImage, verifyPulledDir } from './support/site-pull.js';
import { createWanSite } from './support/site-wan.js';
import { makeTempDir } from './support/temp-dir.js';
import { buildImage } from './support/test-image.js';
import { cleanupsAfter } from './support/test-cleanups.js';

const skip = netnsUnavailableReason();
const LISTENER = join(import.meta.dirname, 'support', 'netns-counting-listener.ts');
const PROBE = join(import.meta.dirname, 'support', 'netns-proxy-probe.ts');
const PROXY_PORT = 3128;
/** A service bound to the node's loopback only (a database, an admin API, /metrics elsewhere). */
const LOOPBACK_SERVICE_PORT = 9100;
const HOST_PORT = 8080;
const METADATA = '169.254.169.254';
const REFERENCE = 'boundary/app:v1';
const START_DEADLINE_MS = 30_000;

interface Counted {
  readonly process: NamespaceProcess;
  readonly connections: string[];
}

async function countingListener(namespace: string, host: string, port: number): Promise<Counted> {
  const connections: string[] = [];
  const child = new NamespaceProcess(`listener ${host}:${port}`, namespace, process.execPath, ['--import', 'tsx', LISTENER, host, String(port)], (line) => {
    const parsed = JSON.parse(line) as { connection?: string };
    if (parsed.connection !== undefined) connections.push(parsed.connection);
  });
  await child.waitForLine(/"listening"/, START_DEADLINE_MS);
  return { process: child, connections };
}

interface ProbeAnswer {
  readonly status: number;
  readonly body: string;
  readonly error?: string;
}

/** Raw requests to the proxy from inside `from`, one connection each; the proxy's answers. */
async function probe(from: SiteNamespace, proxy: string, requests: readonly string[]): Promise<ProbeAnswer[]> {
  const { stdout } = await runCommand('ip', ['netns', 'exec', from.name, process.execPath, '--import', 'tsx', PROBE, proxy, String(PROXY_PORT), JSON.stringify(requests)], {
    timeoutMs: 60_000,
  });
  return stdout.toString('utf8').trim().split('\n').map((line) => JSON.parse(line) as ProbeAnswer);
}

function errorOf(answer: ProbeAnswer): { code: string; message: string; detail?: { reason?: string } } | undefined {
  try {
    return (JSON.parse(answer.body) as { errors: Array<{ code: string; message: string; detail?: { reason?: string } }> }).errors[0];
  } catch {
    return undefined;
  }
}

const request = (line: string): string => `${line}\r\nHost: x\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`;

void describe('the transparent proxy between namespaces: allowed clients only, never into the node itself', { skip: skip === undefined ? false : `needs network namespaces: ${skip}` }, () => {
  test('an attacker on the LAN gets 403 for everything; the allowed client pulls, but cannot reach loopback, metadata or own ports', async (t) => {
    const defer = cleanupsAfter(t);
    const wan = await createWanSite({ nodes: 4 });
    defer(() => wan.destroy());
    const [nodeNs, clientNs, attackerNs, hostNs] = wan.nodes;
    assert.ok(nodeNs && clientNs && attackerNs && hostNs);
    const cloud = await startCloudRegistry(wan);
    defer(() => cloud.stop());
    const layout = await buildImage({ layers: 2, layerSize: 300_000, seed: 'transparent-boundary' });
    defer(() => layout.cleanup());
    await cloud.push(layout, REFERENCE);
    const work = await makeTempDir('transparent-boundary');
    defer(() => work.remove());

    // What must stay out of reach on the node: a loopback-only service and a metadata address.
    await runCommand('ip', ['-n', nodeNs.name, 'addr', 'add', `${METADATA}/32`, 'dev', 'lo']);
    const loopbackService = await countingListener(nodeNs.name, '127.0.0.1', LOOPBACK_SERVICE_PORT);
    defer(() => loopbackService.process.stop());
    const metadata = await countingListener(nodeNs.name, METADATA, 80);
    defer(() => metadata.process.stop());
    // An ordinary host on the LAN: allowed clients may tunnel and forward to it.
    const lanHost = await countingListener(hostNs.name, hostNs.address, HOST_PORT);
    defer(() => lanHost.process.stop());

    const node = await startSiteEdgePier(nodeNs, {
      nodeId: 'boundary-node',
      upstream: cloud.url,
      cacheDir: join(work.path, 'cache'),
      mdns: false,
      args: ['--proxy-listen', `${nodeNs.address}:${PROXY_PORT}`],
      clientAllow: `${clientNs.address}/32`,
    });
    defer(() => node.stop());
    await node.process.waitForLine(/"msg":"transparent proxy listening"/, START_DEADLINE_MS);
    const proxy = nodeNs.address;
    const image = expectedImage(layout);
    const [someBlob = ''] = [...image.blobs.keys()];
    const lanTarget = `${hostNs.address}:${HOST_PORT}`;

    // The attacker: every kind of request, to harmless and harmful targets alike.
    const attempts = [
      request(`CONNECT ${lanTarget} HTTP/1.1`),
      request(`GET http://${lanTarget}/ HTTP/1.1`),
      request(`POST http://${lanTarget}/upload HTTP/1.1`),
      request(`CONNECT 127.0.0.1:${LOOPBACK_SERVICE_PORT} HTTP/1.1`),
      request(`GET http://127.0.0.1:${LOOPBACK_SERVICE_PORT}/ HTTP/1.1`),
      request(`GET http://${METADATA}/latest/meta-data/ HTTP/1.1`),
      request(`CONNECT ${cloud.host} HTTP/1.1`),
      request(`GET ${cloud.url}/v2/boundary/app/blobs/${someBlob} HTTP/1.1`),
      request(`GET ${cloud.url}/v2/boundary/app/manifests/v1 HTTP/1.1`),
    ];
    const cloudBefore = cloud.accessLog.length;
    const refused = await probe(attackerNs, proxy, attempts);
    assert.equal(refused.length, attempts.length);
    for (const [index, answer] of refused.entries()) {
      const what = attempts[index]?.split('\r\n')[0] ?? '';
      assert.equal(answer.status, 403, `attacker ${what}: ${JSON.stringify(answer)}`);
      assert.equal(errorOf(answer)?.code, 'DENIED', what);
      assert.match(errorOf(answer)?.message ?? '', new RegExp(`${attackerNs.address.replace(/\./g, '\\.')} may not use this proxy`), what);
    }
    // Not HTTP at all (a TLS ClientHello straight at the proxy): an error, then closed.
    const [garbage] = await probe(attackerNs, proxy, ['\u0016\u0003\u0001\u0000\u00a5\u0001 not http\r\n\r\n']);
    assert.ok(garbage && garbage.status === 400 && garbage.error === undefined, JSON.stringify(garbage));

    // The allowed client: this machine's loopback, metadata and own ports are refused, whatever the spelling.
    const inward: Array<[string, string]> = [
      [`CONNECT 127.0.0.1:${LOOPBACK_SERVICE_PORT} HTTP/1.1`, 'loopback'],
      [`CONNECT localhost:${LOOPBACK_SERVICE_PORT} HTTP/1.1`, 'loopback'],
      [`CONNECT [::ffff:127.0.0.1]:${LOOPBACK_SERVICE_PORT} HTTP/1.1`, 'loopback'],
      [`GET http://127.0.0.1:${LOOPBACK_SERVICE_PORT}/ HTTP/1.1`, 'loopback'],
      [`DELETE http://localhost:${LOOPBACK_SERVICE_PORT}/ HTTP/1.1`, 'loopback'],
      [`CONNECT 0.0.0.0:${LOOPBACK_SERVICE_PORT} HTTP/1.1`, 'unspecified'],
      [`CONNECT ${METADATA}:80 HTTP/1.1`, 'link-local'],
      [`GET http://${METADATA}/latest/meta-data/ HTTP/1.1`, 'link-local'],
      [`CONNECT ${nodeNs.address}:${EDGEPIER_PORT} HTTP/1.1`, 'own-port'],
      [`GET http://${nodeNs.address}:${EDGEPIER_PORT}/metrics HTTP/1.1`, 'own-port'],
      [`CONNECT ${nodeNs.address}:${PROXY_PORT} HTTP/1.1`, 'own-port'],
    ];
    const inwardAnswers = await probe(clientNs, proxy, inward.map(([line]) => request(line)));
    for (const [index, answer] of inwardAnswers.entries()) {
      const [line = '', reason] = inward[index] ?? [];
      assert.equal(answer.status, 403, `client ${line}: ${JSON.stringify(answer)}`);
      assert.equal(errorOf(answer)?.code, 'DENIED', line);
      assert.equal(errorOf(answer)?.detail?.reason, reason, `${line}: ${answer.body}`);
    }
    // A LAN host with nothing on the port: the tunnel is tried and fails as a 502, not a hang.
    const [unreachable] = await probe(clientNs, proxy, [request(`CONNECT ${hostNs.address}:1 HTTP/1.1`)]);
    assert.equal(unreachable?.status, 502, JSON.stringify(unreachable));
    assert.deepEqual([loopbackService.connections, metadata.connections, lanHost.connections], [[], [], []], 'nothing was reached by a refused request');

    // The allowed client does get the proxy: a tunnel and a forward to the LAN host, and a real pull.
    const proxied = (args: readonly string[]): Promise<string> =>
      runCommand('ip', ['netns', 'exec', clientNs.name, 'curl', '-q', '-sS', '--fail', '--max-time', '20', '-x', `http://${proxy}:${PROXY_PORT}`, ...args], { timeoutMs: 30_000 }).then(
        (result) => result.stdout.toString('utf8'),
      );
    assert.equal(await proxied(['--proxytunnel', `http://${lanTarget}/tunnelled`]), 'counted');
    assert.equal(await proxied([`http://${lanTarget}/forwarded`]), 'counted');
    assert.deepEqual(lanHost.connections, [nodeNs.address, nodeNs.address], 'the LAN host saw the node connect twice, on the client\'s behalf');
    // The tunnels the allowed client opened (to the dead port and to the LAN host) are counted;
    // everything the attacker and the policy refused is too.
    const metrics = (await runCommand('ip', ['netns', 'exec', nodeNs.name, 'curl', '-sS', '--max-time', '5', `http://127.0.0.1:${EDGEPIER_PORT}/metrics`], { timeoutMs: 10_000 })).stdout.toString('utf8');
    const connects = (outcome: string): number => Number(new RegExp(`^edgepier_proxy_connects_total\\{outcome="${outcome}"\\} (\\d+)$`, 'm').exec(metrics)?.[1] ?? NaN);
    assert.equal(connects('tunnelled'), 2, metrics);
    assert.ok(connects('refused') >= 10, `refused CONNECTs are counted: ${connects('refused')}`);

    const pulled = join(work.path, 'pull');
    const proxyUrl = `http://${proxy}:${PROXY_PORT}`;
    await runCommand(
      'ip',
      [
        'netns', 'exec', clientNs.name, 'env', `HTTP_PROXY=${proxyUrl}`, `HTTPS_PROXY=${proxyUrl}`, 'skopeo', '--insecure-policy', 'copy', '--quiet',
        '--preserve-digests', '--retry-times', '0', '--src-tls-verify=false', '--src-no-creds', `docker://${cloud.host}/${REFERENCE}`, `dir:${pulled}`,
      ],
      { timeoutMs: 120_000 },
    );
    await verifyPulledDir(pulled, image);
    const gets = cloud.blobGets(cloudBefore);
    for (const digest of image.blobs.keys()) {
      assert.deepEqual(Object.fromEntries(gets.get(digest) ?? new Map<string, number>()), { [nodeNs.address]: 1 }, `${digest}: fetched once, by the node`);
    }
    assert.ok(!cloud.accessLog.slice(cloudBefore).some((record) => record.client === attackerNs.address), 'the attacker never reached the cloud');
    assert.ok(node.process.lines.some((line) => line.includes('refused a proxy client that is not in --client-allow')), 'the refusal was logged');
  });
});
