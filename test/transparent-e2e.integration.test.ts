// Transparent mode end to end, with real parts only: the EdgePier CLI is the HTTPS_PROXY of a
// node namespace where registry.test (docker-registry, TLS from a test CA), origin.test (nginx)
// and badcert.test (self-signed) resolve by name. skopeo pulls, pushes and inspects through
// it; curl checks tunnelling and errors. The registry's access log counts what crossed to it.
import assert from 'node:assert/strict';
import { mkdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { netnsUnavailableReason } from './support/netns.js';
import type { NamespaceProcess } from './support/site-namespace-process.js';
import { expectedImage, verifyPulledDir } from './support/site-pull.js';
import { makeTempDir } from './support/temp-dir.js';
import { NamespaceCommandError } from './support/tls-namespace-command.js';
import { BADCERT_HOST, ORIGIN_BODY, ORIGIN_HOST, REGISTRY_HOST, startTlsSite, type SeededImage, type TlsSite } from './support/tls-site.js';

const skip = netnsUnavailableReason();
const CLI = join(import.meta.dirname, '..', 'cli', 'main.ts');
const PROXY = 'http://127.0.0.1:3128';
const PROXY_ENV = { HTTPS_PROXY: PROXY, HTTP_PROXY: PROXY, NO_PROXY: 'localhost,127.0.0.1' };
/** curl: the peer's certificate is not trusted. */
const CURL_UNTRUSTED_CERTIFICATE = 60;
/** curl: the proxy refused the CONNECT. */
const CURL_CONNECT_REFUSED = 56;
const SKOPEO_BASE = ['--insecure-policy'];

void describe('transparent mode (HTTPS_PROXY) with real clients', { skip: skip === undefined ? false : `needs network namespaces: ${skip}` }, () => {
  let site: TlsSite;
  let image: SeededImage;
  let work: { path: string; remove(): Promise<void> };
  let edgepier: NamespaceProcess;
  /** Holds EdgePier's CA as ca.crt: skopeo's --src-cert-dir / --dest-cert-dir. */
  let edgepierCertDir: string;
  let edgepierCaFile: string;

  before(async () => {
    site = await startTlsSite();
    work = await makeTempDir('transparent-e2e');
    image = await site.seedImage({ repository: 'edge/app', tag: 'v1', layers: 3, layerSize: 200_000 });
    const caDir = join(work.path, 'ca');
    edgepierCertDir = join(work.path, 'trust');
    edgepierCaFile = join(edgepierCertDir, 'ca.crt');
    await mkdir(edgepierCertDir);
    // The operator's order: export the CA (this creates it), trust it, then start serving.
    await site.execInClient(process.execPath, ['--import', 'tsx', CLI, 'ca', 'export', '--ca-dir', caDir, '--out', edgepierCaFile]);
    edgepier = site.spawnInClient('edgepier', process.execPath, [
      '--import', 'tsx', CLI, 'serve',
      '--listen', '127.0.0.1:5000', '--peer-listen', '127.0.0.1:0',
      '--proxy-listen', '127.0.0.1:3128',
      '--cache-dir', join(work.path, 'cache'),
      '--ca-dir', caDir,
      '--upstream', `https://${REGISTRY_HOST}`,
      '--upstream', `${BADCERT_HOST}=https://${BADCERT_HOST}`,
      '--upstream-ca-file', site.caPath,
      '--no-mdns',
      '--node-id', 'transparent-node',
    ]);
    await edgepier.waitForLine(/"msg":"transparent proxy listening"/, 30_000);
  });

  after(async () => {
    await edgepier?.stop();
    await site?.destroy();
    await work?.remove();
  });

  test('the CA was created once, private, and serve loaded the exported one', async () => {
    const caDir = join(work.path, 'ca');
    assert.equal((await stat(caDir)).mode & 0o777, 0o700);
    assert.equal((await stat(join(caDir, 'ca-key.pem'))).mode & 0o777, 0o600);
    assert.equal(await readFile(join(caDir, 'ca.pem'), 'utf8'), await readFile(edgepierCaFile, 'utf8'));
    assert.ok(edgepier.lines.some((line) => line.includes('"msg":"loaded the transparent-mode CA"')), 'serve reused the CA');
  });

  test('skopeo pulls through the proxy; the second pull is served from the cache', async () => {
    const copy = (destination: string): Promise<unknown> =>
      site.execInClient('skopeo', [
        ...SKOPEO_BASE, 'copy', '--quiet', '--preserve-digests', '--retry-times', '0', '--src-no-creds',
        '--src-cert-dir', edgepierCertDir, `docker://${image.reference}`, `dir:${destination}`,
      ], { env: PROXY_ENV, timeoutMs: 90_000 });
    const before = site.registry.accessLog.length;
    await copy(join(work.path, 'pull-1'));
    await verifyPulledDir(join(work.path, 'pull-1'), expectedImage(image));
    const first = await site.registry.waitForBlobGets(image.blobs.keys(), { client: site.client.address, from: before });
    for (const [digest, byClient] of first) assert.deepEqual(Object.fromEntries(byClient), { [site.client.address]: 1 }, digest);

    const middle = site.registry.accessLog.length;
    await copy(join(work.path, 'pull-2'));
    await verifyPulledDir(join(work.path, 'pull-2'), expectedImage(image));
    // A forwarded request after the pull marks the log: once it is there, the pull's lines are too.
    const { stdout: catalog } = await site.execInClient('curl', ['-q', '-sS', '--fail', '--cacert', edgepierCaFile, `https://${REGISTRY_HOST}/v2/_catalog`], { env: PROXY_ENV });
    assert.match(catalog, /"edge\/app"/, 'the catalogue is the real registry\'s answer');
    await waitForLogged(site, '/v2/_catalog', middle);
    const second = site.registry.blobGets(middle);
    assert.equal(second.size, 0, `no blob crossed to the registry on the second pull: ${JSON.stringify([...second.keys()])}`);
    assert.ok(edgepier.lines.some((line) => line.includes('"source":"cache"')), 'EdgePier logged cache hits');
  });

  test('a push through the proxy reaches the real registry, and pulls of it come back through the cache', async () => {
    const pushed = `${REGISTRY_HOST}/pushed/app:v1`;
    await site.execInClient('skopeo', [
      ...SKOPEO_BASE, 'copy', '--quiet', '--preserve-digests', '--retry-times', '0', '--dest-no-creds',
      '--dest-cert-dir', edgepierCertDir, `dir:${join(work.path, 'pull-1')}`, `docker://${pushed}`,
    ], { env: PROXY_ENV, timeoutMs: 90_000 });
    // Straight to the registry (no proxy), trusting only the test CA: the push really landed.
    const { stdout } = await site.execInClient('skopeo', [
      ...SKOPEO_BASE, 'inspect', '--raw', '--retry-times', '0', '--no-creds', '--cert-dir', site.caCertDir, `docker://${pushed}`,
    ]);
    assert.equal((JSON.parse(stdout) as { config: { digest: string } }).config.digest, image.configDigest);
    const uploads = site.registry.accessLog.filter((record) => record.client === site.client.address && (record.method === 'PUT' || record.method === 'POST' || record.method === 'PATCH'));
    assert.ok(uploads.some((record) => record.path === '/v2/pushed/app/manifests/v1' && record.method === 'PUT'), 'the manifest PUT was forwarded');

    const from = site.registry.accessLog.length;
    await site.execInClient('skopeo', [
      ...SKOPEO_BASE, 'copy', '--quiet', '--preserve-digests', '--retry-times', '0', '--src-no-creds',
      '--src-cert-dir', edgepierCertDir, `docker://${pushed}`, `dir:${join(work.path, 'pull-pushed')}`,
    ], { env: PROXY_ENV, timeoutMs: 90_000 });
    await verifyPulledDir(join(work.path, 'pull-pushed'), expectedImage(image));
    await site.execInClient('curl', ['-q', '-sS', '--fail', '--cacert', edgepierCaFile, '-o', '/dev/null', `https://${REGISTRY_HOST}/v2/_catalog`], { env: PROXY_ENV });
    await waitForLogged(site, '/v2/_catalog', from);
    assert.equal(site.registry.blobGets(from).size, 0, 'its blobs came from the cache, by digest');
  });

  test('curl to a host that is not a registry is tunnelled: it sees the origin\'s own certificate and body', async () => {
    const { stdout } = await site.execInClient('curl', ['-q', '-sS', '--fail', '--cacert', site.caPath, `https://${ORIGIN_HOST}/`], { env: PROXY_ENV });
    assert.equal(stdout, ORIGIN_BODY);
    // Trusting only EdgePier's CA fails: the certificate came from the origin, not from EdgePier.
    await assert.rejects(
      site.execInClient('curl', ['-q', '-sS', '--cacert', edgepierCaFile, `https://${ORIGIN_HOST}/`], { env: PROXY_ENV }),
      (error: unknown) => error instanceof NamespaceCommandError && error.exitCode === CURL_UNTRUSTED_CERTIFICATE,
    );
    const origin = await site.origin.readAccessLog();
    assert.ok(origin.some((record) => record.client === site.client.address), 'the origin saw the client\'s namespace connect, through the tunnel');
  });

  test('an upstream with an invalid certificate is a clear error for curl and skopeo, and nothing is fetched from it', async () => {
    const before = site.badcert.accessLog.length;
    const answer = await site.execInClient('curl', ['-q', '-sS', '--cacert', edgepierCaFile, '-w', '\\n%{http_code}', `https://${BADCERT_HOST}/v2/edge/app/manifests/v1`], { env: PROXY_ENV });
    const [body = '', status] = answer.stdout.split('\n');
    assert.equal(status, '502');
    assert.match(body, /"code":"UPSTREAM_ERROR".*TLS certificate of upstream badcert\.test failed verification/);
    await assert.rejects(
      site.execInClient('skopeo', [...SKOPEO_BASE, 'inspect', '--raw', '--retry-times', '0', '--no-creds', '--cert-dir', edgepierCertDir, `docker://${BADCERT_HOST}/edge/app:v1`], {
        env: PROXY_ENV,
      }),
      /502|Bad Gateway/,
    );
    assert.equal(site.badcert.accessLog.length, before, 'no request was ever completed with the untrusted registry');
  });

  test('a CONNECT to a registry host on another port is refused, not tunnelled past the mirror', async () => {
    await assert.rejects(
      site.execInClient('curl', ['-q', '-sS', '--cacert', site.caPath, `https://${REGISTRY_HOST}:8443/v2/`], { env: PROXY_ENV }),
      (error: unknown) => error instanceof NamespaceCommandError && error.exitCode === CURL_CONNECT_REFUSED && /403/.test(error.stderr),
    );
  });
});

async function waitForLogged(site: TlsSite, path: string, from: number): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!site.registry.accessLog.slice(from).some((record) => record.path === path)) {
    if (Date.now() > deadline) throw new Error(`registry did not log ${path} within 5 s`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
