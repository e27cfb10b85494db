// Smoke test of the TLS site fixture (test/support/tls-site.ts) that transparent-mode tests
// build on: from the client namespace, by host name, real clients (curl, Node, skopeo) reach
// a TLS registry and a TLS web origin trusted through the test CA only, refuse the
// self-signed one, and the registry's access log counts the blobs a pull fetched.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { pollUntil } from './support/child-process.js';
import { runCommand } from './support/run-command.js';
import { netnsUnavailableReason } from './support/netns.js';
import { expectedImage, verifyPulledDir } from './support/site-pull.js';
import { sha256Digest } from './support/sha256.js';
import { makeTempDir } from './support/temp-dir.js';
import { NamespaceCommandError } from './support/tls-namespace-command.js';
import { BADCERT_HOST, ORIGIN_BODY, ORIGIN_HOST, REGISTRY_HOST, startTlsSite, type SeededImage, type TlsSite } from './support/tls-site.js';

const skip = netnsUnavailableReason();
/** curl: "Peer certificate cannot be authenticated with known CA certificates". */
const CURL_UNTRUSTED_CERTIFICATE = 60;

// Runs inside the client namespace: resolves with the system resolver (getaddrinfo), then
// fetches origin.test trusting only the test CA, and reports what it saw.
const NODE_PROBE = `
const dns = require('node:dns');
const https = require('node:https');
const fs = require('node:fs');
dns.lookup(process.env.PROBE_HOST, { family: 4 }, (error, address) => {
  if (error) throw error;
  const request = https.get({ host: process.env.PROBE_HOST, port: 443, path: '/', ca: fs.readFileSync(process.env.PROBE_CA) }, (response) => {
    const fingerprint256 = response.socket.getPeerCertificate().fingerprint256;
    let body = '';
    response.setEncoding('utf8');
    response.on('data', (chunk) => { body += chunk; });
    response.on('end', () => console.log(JSON.stringify({ address, status: response.statusCode, fingerprint256, body })));
  });
  request.setTimeout(5000, () => request.destroy(new Error('timeout')));
});
`;

void describe('TLS site fixture', { skip: skip === undefined ? false : `needs network namespaces: ${skip}` }, () => {
  let site: TlsSite;
  let image: SeededImage;

  before(async () => {
    site = await startTlsSite();
    image = await site.seedImage({ repository: 'smoke/app', tag: 'v1', layers: 3, layerSize: 50_000 });
  });
  after(() => site?.destroy());

  test('curl reaches registry.test by name, trusting the test CA: 200 with the distribution API header', async () => {
    const { stdout } = await site.execInClient('curl', ['-q', '-sS', '--cacert', site.caPath, '-D', '-', '-o', '/dev/null', `https://${REGISTRY_HOST}/v2/`]);
    assert.match(stdout, /^HTTP\/[\d.]+ 200/);
    assert.match(stdout, /^docker-distribution-api-version: registry\/2\.0\r?$/im);
  });

  test('curl gets origin.test its fixed body, trusting the test CA', async () => {
    const { stdout } = await site.execInClient('curl', ['-q', '-sS', '--fail', '--cacert', site.caPath, `https://${ORIGIN_HOST}/`]);
    assert.equal(stdout, ORIGIN_BODY);
  });

  test('curl refuses badcert.test (exit 60) although the server is up and names itself right', async () => {
    await assert.rejects(
      site.execInClient('curl', ['-q', '-sS', '--cacert', site.caPath, `https://${BADCERT_HOST}/v2/`]),
      (error: unknown) => error instanceof NamespaceCommandError && error.exitCode === CURL_UNTRUSTED_CERTIFICATE,
    );
    // Without verification it answers as a registry: the refusal above is about trust only.
    const { stdout } = await site.execInClient('curl', ['-q', '-sS', '--insecure', '-D', '-', '-o', '/dev/null', `https://${BADCERT_HOST}/v2/`]);
    assert.match(stdout, /^HTTP\/[\d.]+ 200/);
    // The registry logs a request after answering it: poll (bounded) for the line.
    await pollUntil('badcert.test logged GET /v2/', () => Promise.resolve(site.badcert.accessLog.some((record) => record.path === '/v2/') ? true : undefined), {
      deadlineMs: 5_000,
    });
  });

  test("Node's dns.lookup resolves the names in the client namespace, and TLS shows the origin's own certificate", async () => {
    const { stdout } = await site.execInClient(process.execPath, ['-e', NODE_PROBE], { env: { PROBE_HOST: ORIGIN_HOST, PROBE_CA: site.caPath } });
    const seen = JSON.parse(stdout) as { address: string; status: number; fingerprint256: string; body: string };
    assert.deepEqual(seen, { address: site.origin.address, status: 200, fingerprint256: site.origin.certificate.fingerprint256, body: ORIGIN_BODY });
    assert.equal(site.hosts.get(ORIGIN_HOST), site.origin.address);
    const logged = await pollUntil('origin.test logged the request', async () => {
      const records = await site.origin.readAccessLog();
      return records.some((record) => record.client === site.client.address && record.status === 200) ? records : undefined;
    }, { deadlineMs: 5_000 });
    assert.ok(logged.length >= 1);
    // The names exist only inside the site: the host's own /etc/hosts is untouched.
    assert.equal((await readFile('/etc/hosts', 'utf8')).includes(REGISTRY_HOST), false);
  });

  test('skopeo (Go resolver) inspects the seeded image with --cert-dir, and fails without it', async () => {
    const args = ['--insecure-policy', 'inspect', '--raw', '--retry-times', '0', '--no-creds'];
    const { stdout } = await site.execInClient('skopeo', [...args, '--cert-dir', site.caCertDir, `docker://${image.reference}`]);
    assert.equal(sha256Digest(Buffer.from(stdout, 'utf8')), image.topDigest);
    await assert.rejects(site.execInClient('skopeo', [...args, `docker://${image.reference}`]), /certificate signed by unknown authority/);
  });

  test("the registry's access log counts the blob GETs of a skopeo copy from the client", async () => {
    const work = await makeTempDir('tls-site-pull');
    try {
      const from = site.registry.accessLog.length;
      await site.execInClient('skopeo', [
        '--insecure-policy', 'copy', '--quiet', '--preserve-digests', '--retry-times', '0', '--src-no-creds',
        '--src-cert-dir', site.caCertDir, `docker://${image.reference}`, `dir:${work.path}/image`,
      ], { timeoutMs: 60_000 });
      await verifyPulledDir(`${work.path}/image`, expectedImage(image));
      const gets = await site.registry.waitForBlobGets(image.blobs.keys(), { client: site.client.address, from });
      assert.deepEqual([...gets.keys()].sort(), [...image.blobs.keys()].sort(), 'every blob, nothing else');
      for (const [digest, byClient] of gets) assert.deepEqual(Object.fromEntries(byClient), { [site.client.address]: 1 }, digest);
      assert.equal(image.layerDigests.length, 3);
    } finally {
      await work.remove();
    }
  });

  test('destroy() leaves no namespace, hosts file or server process behind', async () => {
    const pids = [site.registry.process.pid, site.origin.process.pid, site.badcert.process.pid];
    const namespaces = site.site.namespaces.map((ns) => ns.name);
    await site.destroy();
    await site.destroy();
    const listed = (await runCommand('ip', ['netns', 'list'], { timeoutMs: 5_000 })).stdout.toString('utf8');
    for (const name of namespaces) {
      assert.equal(listed.includes(name), false, `namespace ${name} removed`);
      assert.equal(existsSync(`/etc/netns/${name}`), false, `/etc/netns/${name} removed`);
    }
    for (const pid of pids) {
      assert.ok(pid !== undefined);
      assert.throws(() => process.kill(pid, 0), { code: 'ESRCH' }, `pid ${pid} is gone`);
    }
  });
});
