// The CAs that upstream TLS is verified against: which bundle is the system store, what
// SSL_CERT_FILE and --upstream-ca-file change, which files are refused, and that the agent
// really verifies against that store (real HTTPS servers on loopback).
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer, get, type Agent, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { rootCertificates } from 'node:tls';
import { loadOrCreateCertificateAuthority, type CertificateAuthority } from '../transparent/certificate-authority.js';
import { describeTlsFailure } from '../upstream/tls-failure.js';
import { loadUpstreamTrust, UpstreamTrustProblem, type UpstreamTrust, type UpstreamTrustOptions } from '../upstream/upstream-trust.js';
import { makeTempDir } from './support/temp-dir.js';

let root: { path: string; remove: () => Promise<void> };
let siteA: CertificateAuthority;
let siteB: CertificateAuthority;
let unlisted: CertificateAuthority;
/** PEM files under `root`, by what they hold. */
const file = {
  a: '',
  b: '',
  ab: '',
  noPem: '',
  missing: '',
  alsoMissing: '',
  directory: '',
};

before(async () => {
  root = await makeTempDir('upstream-trust');
  [siteA, siteB, unlisted] = await Promise.all(
    ['site-a', 'site-b', 'unlisted'].map(async (name) => (await loadOrCreateCertificateAuthority(join(root.path, name))).authority),
  ) as [CertificateAuthority, CertificateAuthority, CertificateAuthority];
  file.a = await writePem('a.pem', siteA.certificatePem);
  file.b = await writePem('b.pem', siteB.certificatePem);
  file.ab = await writePem('ab.pem', `# site CAs\n${siteA.certificatePem}\n${siteB.certificatePem}`);
  file.noPem = await writePem('no-pem.pem', 'nothing to trust here\n');
  file.missing = join(root.path, 'missing.pem');
  file.alsoMissing = join(root.path, 'also', 'missing.pem');
  file.directory = join(root.path, 'a-directory.pem');
  await mkdir(file.directory);
});

after(async () => {
  await root.remove();
});

async function writePem(name: string, text: string): Promise<string> {
  const path = join(root.path, name);
  await writeFile(path, text);
  return path;
}

/** The certificate as the loader extracts it from a file: the PEM block without its trailing newline. */
function pem(authority: CertificateAuthority): string {
  return authority.certificatePem.trim();
}

function load(options: Partial<UpstreamTrustOptions>): Promise<UpstreamTrust> {
  return loadUpstreamTrust({ extraCaFile: null, env: {}, systemBundlePaths: [], ...options });
}

async function rejectsWith(loading: Promise<unknown>, message: RegExp): Promise<void> {
  await assert.rejects(loading, (error: unknown) => {
    assert.ok(error instanceof UpstreamTrustProblem, `expected an UpstreamTrustProblem, got ${String(error)}`);
    assert.match(error.message, message);
    return true;
  });
}

function escaped(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

describe('the system trust store', () => {
  test('is the first candidate that exists; missing candidates are skipped', async () => {
    const trust = await load({ systemBundlePaths: [file.missing, file.alsoMissing, file.a, file.b] });
    assert.deepEqual(trust.certificates, [pem(siteA)]);
    assert.equal(trust.description, `1 CAs from ${file.a}`);
  });

  test('skips a candidate that exists but holds no certificate', async () => {
    const trust = await load({ systemBundlePaths: [file.noPem, file.b] });
    assert.deepEqual(trust.certificates, [pem(siteB)]);
    assert.equal(trust.description, `1 CAs from ${file.b}`);
  });

  test('falls back to the roots built into Node when no candidate exists, and says so', async () => {
    const trust = await load({ systemBundlePaths: [file.missing, file.alsoMissing] });
    assert.deepEqual(trust.certificates, [...rootCertificates]);
    assert.equal(trust.description, `${rootCertificates.length} CAs built into Node (no system trust store found)`);
  });

  test('SSL_CERT_FILE wins over every candidate; an empty one is ignored', async () => {
    const trust = await load({ env: { SSL_CERT_FILE: file.b }, systemBundlePaths: [file.a] });
    assert.deepEqual(trust.certificates, [pem(siteB)]);
    assert.equal(trust.description, `1 CAs from SSL_CERT_FILE ${file.b}`);
    const ignored = await load({ env: { SSL_CERT_FILE: '' }, systemBundlePaths: [file.a] });
    assert.deepEqual(ignored.certificates, [pem(siteA)]);
  });

  test('an SSL_CERT_FILE that is missing or holds no certificate is refused, not replaced by a candidate', async () => {
    await rejectsWith(
      load({ env: { SSL_CERT_FILE: file.missing }, systemBundlePaths: [file.a] }),
      new RegExp(`^cannot read SSL_CERT_FILE ${escaped(file.missing)}: ENOENT`),
    );
    await rejectsWith(load({ env: { SSL_CERT_FILE: file.noPem }, systemBundlePaths: [file.a] }), new RegExp(`^SSL_CERT_FILE ${escaped(file.noPem)} holds no PEM certificate$`));
  });
});

describe('--upstream-ca-file', () => {
  test('adds every certificate it holds to the system store, and the description names it', async () => {
    const trust = await load({ systemBundlePaths: [file.a], extraCaFile: file.ab });
    assert.deepEqual(trust.certificates, [pem(siteA), pem(siteA), pem(siteB)]);
    assert.equal(trust.description, `1 CAs from ${file.a} + 2 from ${file.ab}`);

    const onNodeRoots = await load({ extraCaFile: file.b });
    assert.equal(onNodeRoots.certificates.length, rootCertificates.length + 1);
    assert.equal(onNodeRoots.certificates.at(-1), pem(siteB));
    assert.match(onNodeRoots.description, new RegExp(`\\(no system trust store found\\) \\+ 1 from ${escaped(file.b)}$`));
  });

  test('a file without a PEM certificate is refused', async () => {
    await rejectsWith(load({ systemBundlePaths: [file.a], extraCaFile: file.noPem }), new RegExp(`^--upstream-ca-file ${escaped(file.noPem)} holds no PEM certificate$`));
  });

  test('a missing or unreadable file is refused with the reason', async () => {
    await rejectsWith(load({ systemBundlePaths: [file.a], extraCaFile: file.missing }), new RegExp(`^cannot read --upstream-ca-file ${escaped(file.missing)}: ENOENT`));
    // A directory cannot be read even by root, unlike a file without read permission.
    await rejectsWith(load({ systemBundlePaths: [file.a], extraCaFile: file.directory }), new RegExp(`^cannot read --upstream-ca-file ${escaped(file.directory)}: EISDIR`));
  });

  test('garbage between BEGIN and END markers is refused, naming the file and which certificate', async () => {
    const garbage = {
      'not base64': 'this is not base64!',
      'base64 but not DER': Buffer.from('not a certificate at all').toString('base64'),
    };
    for (const [kind, body] of Object.entries(garbage)) {
      const path = await writePem(`garbage-${kind.replace(/ /g, '-')}.pem`, `${siteA.certificatePem}-----BEGIN CERTIFICATE-----\n${body}\n-----END CERTIFICATE-----\n`);
      await rejectsWith(
        load({ systemBundlePaths: [file.b], extraCaFile: path }),
        new RegExp(`^--upstream-ca-file ${escaped(path)}: certificate 2 of 2 is not a valid PEM certificate \\(.+\\)$`),
      );
    }
  });

  test('garbage in the system bundle is refused too, rather than silently trusting less', async () => {
    const path = await writePem('garbage-system.pem', '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n');
    await rejectsWith(load({ systemBundlePaths: [path, file.a] }), new RegExp(`^the system trust store ${escaped(path)}: certificate 1 of 1 is not a valid PEM certificate`));
  });
});

describe('the agent verifies upstream certificates against exactly this store', () => {
  const servers: Server[] = [];
  const agents: Agent[] = [];
  let signedBySiteA = 0;
  let signedByUnlisted = 0;

  async function serve(authority: CertificateAuthority): Promise<number> {
    const server = createServer(authority.serverCredentialsFor('127.0.0.1'), (_request, response) => {
      response.end('verified');
    });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return (server.address() as AddressInfo).port;
  }

  async function agentFor(options: Partial<UpstreamTrustOptions>): Promise<Agent> {
    const { agent } = await load(options);
    agents.push(agent);
    return agent;
  }

  function fetchText(agent: Agent, port: number): Promise<{ status: number | undefined; body: string }> {
    return new Promise((resolve, reject) => {
      const request = get({ host: '127.0.0.1', port, path: '/v2/', agent }, (response) => {
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (body += chunk));
        response.on('end', () => resolve({ status: response.statusCode, body }));
        response.on('error', reject);
      });
      request.on('error', reject);
    });
  }

  before(async () => {
    [signedBySiteA, signedByUnlisted] = await Promise.all([serve(siteA), serve(unlisted)]);
  });

  after(async () => {
    for (const agent of agents) agent.destroy();
    await Promise.all(
      servers.map(
        (server) =>
          new Promise<void>((resolve) => {
            server.closeAllConnections();
            server.close(() => resolve());
          }),
      ),
    );
  });

  test('a server whose CA is in --upstream-ca-file is reachable', async () => {
    const agent = await agentFor({ systemBundlePaths: [file.b], extraCaFile: file.a });
    assert.deepEqual(await fetchText(agent, signedBySiteA), { status: 200, body: 'verified' });
  });

  test('a server whose CA is in the system bundle is reachable', async () => {
    const agent = await agentFor({ systemBundlePaths: [file.a] });
    assert.deepEqual(await fetchText(agent, signedBySiteA), { status: 200, body: 'verified' });
  });

  test('a server from a CA in neither fails with a certificate error that EdgePier names', async () => {
    const agent = await agentFor({ systemBundlePaths: [file.b], extraCaFile: file.a });
    const origin = `https://127.0.0.1:${signedByUnlisted}`;
    await assert.rejects(fetchText(agent, signedByUnlisted), (error: unknown) => {
      // The server sends its leaf and its (self-signed, unknown) CA.
      assert.equal((error as { code?: unknown }).code, 'SELF_SIGNED_CERT_IN_CHAIN');
      assert.match(describeTlsFailure(error, origin) ?? '', new RegExp(`^the TLS certificate of ${escaped(origin)} failed verification \\(SELF_SIGNED_CERT_IN_CHAIN: `));
      return true;
    });
  });
});
