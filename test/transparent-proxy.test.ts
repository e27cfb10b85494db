import assert from 'node:assert/strict';
import { createHash, X509Certificate } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { pino } from 'pino';
import { EdgePierNode } from '../cli/edgepier-node.js';
import { loadConfig } from '../config/load-config.js';
import { loadOrCreateCertificateAuthority, type CertificateAuthority } from '../transparent/certificate-authority.js';
import { LoopbackRegistry } from './support/loopback-registry.js';
import { rawExchange, requestOver, requestViaHttpProxy, tlsThroughProxy } from './support/proxy-client.js';
import { makeTempDir } from './support/temp-dir.js';

const LAYER = Buffer.from(Array.from({ length: 300_000 }, (_, index) => (index * 7919) % 251));
const REPOSITORY = 'tools/app';

interface TransparentSite {
  readonly node: EdgePierNode;
  readonly proxyPort: number;
  /** What `edgepier ca export` prints: the CA clients must trust. */
  readonly edgepierCa: string;
  /** Trusted by EdgePier through --upstream-ca-file. */
  readonly registry: LoopbackRegistry;
  readonly registryTarget: string;
  readonly layerDigest: string;
  /** Same code, but its certificate comes from a CA nobody trusts. */
  readonly untrusted: LoopbackRegistry;
  readonly untrustedTarget: string;
  /** A plain-HTTP registry: pulls through HTTP_PROXY are answered by the core too. */
  readonly plain: LoopbackRegistry;
  /** Not a registry: an HTTPS site whose traffic must pass untouched. */
  readonly origin: { readonly target: string; readonly certificate: string; readonly ca: string };
}

async function startTransparentSite(t: TestContext): Promise<TransparentSite> {
  const dir = await makeTempDir('transparent');
  t.after(() => dir.remove());
  const upstreamCa = (await loadOrCreateCertificateAuthority(join(dir.path, 'upstream-ca'))).authority;
  const strangerCa = (await loadOrCreateCertificateAuthority(join(dir.path, 'stranger-ca'))).authority;
  const originCa = (await loadOrCreateCertificateAuthority(join(dir.path, 'origin-ca'))).authority;
  const upstreamCaFile = join(dir.path, 'upstream-ca.pem');
  await writeFile(upstreamCaFile, upstreamCa.certificatePem);

  const registry = new LoopbackRegistry();
  const layerDigest = registry.addBlob(LAYER);
  registry.addManifest(REPOSITORY, 'v1', { schemaVersion: 2, layers: [{ digest: layerDigest, size: LAYER.length }] });
  await registry.start(0, { tls: upstreamCa.serverCredentialsFor('127.0.0.1') });
  t.after(() => registry.stop());
  const untrusted = new LoopbackRegistry();
  untrusted.addManifest(REPOSITORY, 'v1', { schemaVersion: 2, layers: [] });
  await untrusted.start(0, { tls: strangerCa.serverCredentialsFor('127.0.0.1') });
  t.after(() => untrusted.stop());
  const plain = new LoopbackRegistry();
  plain.addBlob(LAYER);
  await plain.start();
  t.after(() => plain.stop());
  const origin = await startOrigin(originCa);
  t.after(() => new Promise<void>((resolve) => origin.server.close(() => resolve())));

  const loaded = loadConfig({
    argv: [
      '--listen', '127.0.0.1:0', '--peer-listen', '127.0.0.1:0',
      '--proxy-listen', '127.0.0.1:0',
      '--cache-dir', join(dir.path, 'cache'),
      '--ca-dir', join(dir.path, 'edgepier-ca'),
      '--upstream-ca-file', upstreamCaFile,
      '--upstream', registry.url,
      '--upstream', `untrusted.test=${untrusted.url}`,
      '--upstream', `plain.test=${plain.url}`,
      '--upstream-timeout', '3s',
      '--no-mdns',
      '--node-id', 'proxy-node',
    ],
    env: {},
  });
  assert.ok(loaded.ok, JSON.stringify(loaded));
  const node = new EdgePierNode(loaded.config, pino({ level: 'silent' }));
  await node.start();
  t.after(() => node.close());
  const proxyPort = Number(new URL(node.proxyUrl ?? 'http://missing').port);
  const edgepierCa = await readFile(join(dir.path, 'edgepier-ca', 'ca.pem'), 'utf8');
  return {
    node,
    proxyPort,
    edgepierCa,
    registry,
    registryTarget: new URL(registry.url).host,
    layerDigest,
    untrusted,
    untrustedTarget: new URL(untrusted.url).host,
    plain,
    origin: { target: `127.0.0.2:${(origin.server.address() as AddressInfo).port}`, certificate: origin.certificate, ca: originCa.certificatePem },
  };
}

/** An HTTPS site on 127.0.0.2 with its own CA: the stand-in for "any other host". */
async function startOrigin(ca: CertificateAuthority): Promise<{ server: Server; certificate: string }> {
  const credentials = ca.serverCredentialsFor('127.0.0.2');
  const server = createHttpsServer(credentials, (request, response) => {
    response.setHeader('x-origin-saw-host', request.headers.host ?? '');
    response.end('hello from the origin');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.2', resolve));
  return { server, certificate: credentials.cert };
}

async function pullOverProxy(site: TransparentSite, path: string, headers: Record<string, string> = {}) {
  const tls = await tlsThroughProxy(site.proxyPort, site.registryTarget, { ca: site.edgepierCa });
  return requestOver(tls, { path, host: site.registryTarget, headers });
}

test('pulls through an intercepted CONNECT are answered by the mirror core, cached, and Range works', async (t) => {
  const site = await startTransparentSite(t);
  const tls = await tlsThroughProxy(site.proxyPort, site.registryTarget, { ca: site.edgepierCa });
  assert.equal(tls.authorized, true);
  const presented = new X509Certificate(tls.getPeerX509Certificate()?.raw ?? Buffer.alloc(0));
  assert.ok(presented.checkIssued(new X509Certificate(site.edgepierCa)), 'the registry certificate is issued by EdgePier\'s CA');
  assert.equal(presented.checkIP('127.0.0.1'), '127.0.0.1');
  const base = await requestOver(tls, { path: '/v2/', host: site.registryTarget });
  assert.equal(base.status, 200);

  const manifest = await pullOverProxy(site, `/v2/${REPOSITORY}/manifests/v1`, { accept: 'application/vnd.oci.image.manifest.v1+json' });
  assert.equal(manifest.status, 200);
  assert.equal((JSON.parse(manifest.body.toString('utf8')) as { layers: Array<{ digest: string }> }).layers[0]?.digest, site.layerDigest);

  const first = await pullOverProxy(site, `/v2/${REPOSITORY}/blobs/${site.layerDigest}`);
  assert.equal(first.status, 200);
  assert.ok(first.body.equals(LAYER), 'first pull: the layer, byte for byte');
  const second = await pullOverProxy(site, `/v2/${REPOSITORY}/blobs/${site.layerDigest}`);
  assert.ok(second.body.equals(LAYER), 'second pull: the layer, byte for byte');
  assert.equal(second.headers['x-edgepier-source'], 'cache');
  assert.equal(site.registry.blobGets(site.layerDigest), 1, 'the layer crossed to the upstream once');

  const range = await pullOverProxy(site, `/v2/${REPOSITORY}/blobs/${site.layerDigest}`, { range: 'bytes=1000-1999' });
  assert.equal(range.status, 206);
  assert.ok(range.body.equals(LAYER.subarray(1000, 2000)));
  const unsatisfiable = await pullOverProxy(site, `/v2/${REPOSITORY}/blobs/${site.layerDigest}`, { range: `bytes=${LAYER.length + 5}-` });
  assert.equal(unsatisfiable.status, 416);
  assert.equal((JSON.parse(unsatisfiable.body.toString('utf8')) as { errors: Array<{ code: string }> }).errors[0]?.code, 'RANGE_INVALID');
});

test('everything that is not a pull is forwarded to the real registry, with a Via and without proxy credentials', async (t) => {
  const site = await startTransparentSite(t);
  const tls = await tlsThroughProxy(site.proxyPort, site.registryTarget, { ca: site.edgepierCa });
  const upload = await requestOver(tls, {
    method: 'PUT',
    path: `/v2/${REPOSITORY}/manifests/v2`,
    host: site.registryTarget,
    headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json', 'proxy-authorization': 'Basic c2VjcmV0OnNlY3JldA==' },
    body: Buffer.from('{}'),
  });
  // The loopback registry is pull-only: its own 404 comes back unchanged.
  assert.equal(upload.status, 404);
  assert.match(upload.body.toString('utf8'), /not here/);
  const tags = await pullOverProxy(site, `/v2/${REPOSITORY}/tags/list?n=5`);
  assert.equal(tags.status, 404);
  // A pushing client asks with HEAD whether this repository has a blob: only the registry knows.
  await pullOverProxy(site, `/v2/${REPOSITORY}/blobs/${site.layerDigest}`);
  const exists = await requestOver(await tlsThroughProxy(site.proxyPort, site.registryTarget, { ca: site.edgepierCa }), {
    method: 'HEAD',
    path: `/v2/other/repo/blobs/${site.layerDigest}`,
    host: site.registryTarget,
  });
  assert.equal(exists.headers['x-edgepier-source'], undefined, 'the registry answered, not the cache');
  const seen = site.registry.requests.filter((request) => request.method !== 'GET' || request.path.endsWith('/tags/list'));
  assert.deepEqual(seen.map((request) => `${request.method} ${request.path}`), [
    `PUT /v2/${REPOSITORY}/manifests/v2`,
    `GET /v2/${REPOSITORY}/tags/list`,
    `HEAD /v2/other/repo/blobs/${site.layerDigest}`,
  ]);
  for (const request of seen) {
    assert.equal(request.headers.via, '1.1 edgepier-proxy-node');
    assert.equal(request.headers['proxy-authorization'], undefined);
    assert.equal(request.headers.host, site.registryTarget);
  }
});

test('a CONNECT to any other host is a plain tunnel: the client sees the origin\'s own certificate', async (t) => {
  const site = await startTransparentSite(t);
  const tls = await tlsThroughProxy(site.proxyPort, site.origin.target, { ca: site.origin.ca });
  assert.equal(tls.authorized, true);
  const presented = tls.getPeerX509Certificate();
  assert.equal(presented?.fingerprint256, new X509Certificate(site.origin.certificate).fingerprint256);
  const response = await requestOver(tls, { path: '/', host: site.origin.target });
  assert.equal(response.body.toString('utf8'), 'hello from the origin');
  // EdgePier's CA is not involved: a client trusting only it refuses the origin.
  await assert.rejects(tlsThroughProxy(site.proxyPort, site.origin.target, { ca: site.edgepierCa }), /self[- ]signed|unable to verify|issuer/i);
});

test('plain HTTP is forwarded, and pulls from a plain-HTTP registry are served by the core', async (t) => {
  const site = await startTransparentSite(t);
  const other = createHttpServer((request, response) => response.end(`plain ${request.url ?? ''} via ${request.headers.via ?? '-'}`));
  await new Promise<void>((resolve) => other.listen(0, '127.0.0.2', resolve));
  t.after(() => new Promise<void>((resolve) => other.close(() => resolve())));
  const otherUrl = `http://127.0.0.2:${(other.address() as AddressInfo).port}`;
  const forwarded = await requestViaHttpProxy(site.proxyPort, `${otherUrl}/hello?x=1`);
  assert.equal(forwarded.body.toString('utf8'), 'plain /hello?x=1 via 1.1 edgepier-proxy-node');

  const blobUrl = `${site.plain.url}/v2/${REPOSITORY}/blobs/${site.layerDigest}`;
  const first = await requestViaHttpProxy(site.proxyPort, blobUrl);
  const second = await requestViaHttpProxy(site.proxyPort, blobUrl);
  assert.ok(first.body.equals(LAYER) && second.body.equals(LAYER));
  assert.equal(second.headers['x-edgepier-source'], 'cache');
  assert.equal(site.plain.blobGets(site.layerDigest), 1);
});

test('bad proxy input gets a clear JSON error and never a hang', async (t) => {
  const site = await startTransparentSite(t);
  const registryHost = site.registryTarget.split(':')[0] ?? '';
  const cases: Array<{ line: string; status: number; code: string }> = [
    { line: 'CONNECT no-port-here HTTP/1.1', status: 400, code: 'PROXY_TARGET_INVALID' },
    { line: 'CONNECT example.test:0 HTTP/1.1', status: 400, code: 'PROXY_TARGET_INVALID' },
    { line: 'CONNECT example.test:70000 HTTP/1.1', status: 400, code: 'PROXY_TARGET_INVALID' },
    { line: 'CONNECT example.test:44x3 HTTP/1.1', status: 400, code: 'PROXY_TARGET_INVALID' },
    { line: 'CONNECT [::1:443 HTTP/1.1', status: 400, code: 'PROXY_TARGET_INVALID' },
    { line: 'CONNECT exa_mple..test:443 HTTP/1.1', status: 400, code: 'PROXY_TARGET_INVALID' },
    { line: 'CONNECT user@example.test:443 HTTP/1.1', status: 400, code: 'PROXY_TARGET_INVALID' },
    { line: 'CONNECT /v2/ HTTP/1.1', status: 400, code: 'PROXY_TARGET_INVALID' },
    // The registry's host on another port than its API: refused, not tunnelled past the mirror.
    { line: `CONNECT ${registryHost}:443 HTTP/1.1`, status: 403, code: 'DENIED' },
    // Origin-form: a client that mistook the proxy port for the mirror port.
    { line: 'GET /v2/ HTTP/1.1', status: 400, code: 'PROXY_TARGET_INVALID' },
    { line: 'GET http://127.0.0.2:9/ HTTP/1.1\r\nVia: 1.1 edgepier-proxy-node', status: 508, code: 'PROXY_LOOP' },
    // Nothing listens on port 1: the tunnel cannot be opened.
    { line: 'CONNECT 127.0.0.2:1 HTTP/1.1', status: 502, code: 'UPSTREAM_ERROR' },
  ];
  for (const { line, status, code } of cases) {
    const answer = await rawExchange(site.proxyPort, `${line}\r\nHost: x\r\nConnection: close\r\n\r\n`);
    assert.equal(answer.status, status, `${line} → ${answer.head}`);
    assert.match(answer.head, /content-type: application\/json/i, line);
    const body = JSON.parse(answer.body) as { errors: Array<{ code: string; message: string }> };
    assert.equal(body.errors[0]?.code, code, `${line}: ${answer.body}`);
    assert.ok((body.errors[0]?.message.length ?? 0) > 10, `${line}: the message explains`);
  }
  const pulled = await pullOverProxy(site, `/v2/${REPOSITORY}/blobs/${site.layerDigest}`);
  assert.ok(pulled.body.equals(LAYER), 'the proxy still serves after all of that');
});

test('an upstream whose certificate is not trusted is a clear 502, never an unverified connection', async (t) => {
  const site = await startTransparentSite(t);
  for (const path of [`/v2/${REPOSITORY}/manifests/v1`, `/v2/${REPOSITORY}/tags/list`]) {
    const tls = await tlsThroughProxy(site.proxyPort, site.untrustedTarget, { ca: site.edgepierCa });
    const answer = await requestOver(tls, { path, host: site.untrustedTarget });
    assert.equal(answer.status, 502, path);
    const error = (JSON.parse(answer.body.toString('utf8')) as { errors: Array<{ code: string; message: string }> }).errors[0];
    assert.equal(error?.code, 'UPSTREAM_ERROR');
    assert.match(error?.message ?? '', /certificate .* failed verification \(SELF_SIGNED_CERT_IN_CHAIN/, path);
    assert.match(error?.message ?? '', /--upstream-ca-file/);
  }
  assert.equal(site.untrusted.requests.length, 0, 'no request ever reached the untrusted upstream');
});

test('a client that does not trust EdgePier\'s CA fails its handshake; the proxy carries on', async (t) => {
  const site = await startTransparentSite(t);
  await assert.rejects(tlsThroughProxy(site.proxyPort, site.registryTarget, {}), /self[- ]signed|unable to verify|issuer/i);
  const pulled = await pullOverProxy(site, `/v2/${REPOSITORY}/manifests/v1`, { accept: 'application/vnd.oci.image.manifest.v1+json' });
  assert.equal(pulled.status, 200);
  assert.equal(`sha256:${createHash('sha256').update(pulled.body).digest('hex')}`, pulled.headers['docker-content-digest']);
});
