// The local CA of transparent mode: files created once, atomically and privately; refused
// when they cannot be trusted; leaves that real TLS clients (Node, openssl) accept for the
// name asked and for no other.
import assert from 'node:assert/strict';
import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { chmod, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { connect, TLSSocket, type ConnectionOptions, type SecureContext } from 'node:tls';
import {
  CA_CERTIFICATE_FILE,
  CA_KEY_FILE,
  CertificateAuthorityProblem,
  InvalidTlsHost,
  loadOrCreateCertificateAuthority,
  type CertificateAuthority,
  type CertificateAuthorityOptions,
} from '../transparent/certificate-authority.js';
import { runCommand } from './support/run-command.js';
import { makeTempDir } from './support/temp-dir.js';

const DAY_MS = 24 * 3_600_000;

let root: { path: string; remove: () => Promise<void> };
before(async () => {
  root = await makeTempDir('transparent-ca');
});
after(async () => {
  await root.remove();
});

async function modeOf(path: string): Promise<number> {
  return (await stat(path)).mode & 0o777;
}

describe('CA files', () => {
  test('the first use creates ca.pem and a 0600 key in a 0700 directory; the next use loads the same CA', async () => {
    const dir = join(root.path, 'first', 'nested', 'ca');
    const first = await loadOrCreateCertificateAuthority(dir);
    assert.equal(first.created, true);
    assert.equal(await modeOf(dir), 0o700);
    assert.equal(await modeOf(join(dir, CA_KEY_FILE)), 0o600);
    assert.deepEqual((await readdir(dir)).sort(), [CA_KEY_FILE, CA_CERTIFICATE_FILE].sort(), 'the leaf key stays in memory');
    assert.match(await readFile(join(dir, CA_KEY_FILE), 'utf8'), /^-----BEGIN PRIVATE KEY-----\n/, 'PKCS#8');
    const onDisk = new X509Certificate(await readFile(join(dir, CA_CERTIFICATE_FILE)));
    assert.equal(onDisk.fingerprint256, first.authority.fingerprintSha256);
    assert.match(first.authority.fingerprintSha256, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    assert.match(first.authority.subject, /^CN=EdgePier local CA [0-9a-f]{8}, O=EdgePier$/);

    const second = await loadOrCreateCertificateAuthority(dir);
    assert.equal(second.created, false);
    assert.equal(second.authority.fingerprintSha256, first.authority.fingerprintSha256);
    assert.equal(second.authority.certificatePem, first.authority.certificatePem);
  });

  test('an existing empty directory (an operator ran mkdir) is used and ends up 0700', async () => {
    const dir = join(root.path, 'premade');
    await mkdir(dir, { mode: 0o755 });
    const { created } = await loadOrCreateCertificateAuthority(dir);
    assert.equal(created, true);
    assert.equal(await modeOf(dir), 0o700);
  });

  test('four concurrent first uses agree on one CA, created once, and leave no temporary directory', async () => {
    const parent = join(root.path, 'race');
    const dir = join(parent, 'ca');
    const results = await Promise.all(Array.from({ length: 4 }, () => loadOrCreateCertificateAuthority(dir)));
    assert.equal(new Set(results.map((result) => result.authority.fingerprintSha256)).size, 1);
    assert.equal(results.filter((result) => result.created).length, 1);
    assert.deepEqual(await readdir(parent), ['ca']);
    assert.equal(new X509Certificate(await readFile(join(dir, CA_CERTIFICATE_FILE))).fingerprint256, results[0]?.authority.fingerprintSha256);
    assert.equal(await modeOf(join(dir, CA_KEY_FILE)), 0o600);
  });

  test('a directory holding other files is refused, and no temporary directory is left', async () => {
    const parent = join(root.path, 'occupied');
    const dir = join(parent, 'ca');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'notes.txt'), 'mine\n');
    await assertRefused(dir, /holds other files but no CA/);
    assert.deepEqual(await readdir(parent), ['ca']);
    assert.deepEqual(await readdir(dir), ['notes.txt']);
  });

  test('a CA that an earlier version wrote with node-forge still loads, and openssl verifies the leaves it signs', async () => {
    const fixture = new URL('./fixtures/forge-ca/', import.meta.url);
    const dir = join(root.path, 'forge-ca');
    await mkdir(dir, { mode: 0o700 });
    for (const name of [CA_CERTIFICATE_FILE, CA_KEY_FILE]) await writeFile(join(dir, name), await readFile(new URL(name, fixture)));
    // Git keeps no 0600 mode, and a readable key is refused.
    await chmod(join(dir, CA_KEY_FILE), 0o600);
    const written = await readFile(join(dir, CA_CERTIFICATE_FILE), 'utf8');
    const { authority, created } = await loadOrCreateCertificateAuthority(dir, { now: () => Date.parse('2027-06-01T00:00:00Z') });
    assert.equal(created, false);
    assert.equal(authority.certificatePem.trim(), written.trim(), 'the same CA, not a new one');
    assert.equal(authority.subject, 'CN=EdgePier local CA fe5e6601, O=EdgePier');
    const leaf = join(dir, 'leaf.pem');
    await writeFile(leaf, authority.leafCertificatePemFor('registry.test'));
    const verified = await runCommand('openssl', ['verify', '-attime', String(Date.parse('2027-06-01T01:00:00Z') / 1000), '-CAfile', join(dir, CA_CERTIFICATE_FILE), '-purpose', 'sslserver', '-verify_hostname', 'registry.test', leaf]);
    assert.match(verified.stdout.toString(), /leaf\.pem: OK/);
    // The leaves name the key identifier forge wrote into the CA, so chain builders find it.
    const keyIdentifier = async (path: string, label: string) =>
      new RegExp(`${label}:\\s*\\n\\s*([0-9A-F:]+)`).exec((await runCommand('openssl', ['x509', '-noout', '-text', '-in', path])).stdout.toString())?.[1];
    const caKeyIdentifier = await keyIdentifier(join(dir, CA_CERTIFICATE_FILE), 'X509v3 Subject Key Identifier');
    assert.ok(caKeyIdentifier !== undefined && caKeyIdentifier.length > 20, String(caKeyIdentifier));
    assert.equal(await keyIdentifier(leaf, 'X509v3 Authority Key Identifier'), caKeyIdentifier);
  });
});

describe('CA files that cannot be trusted are refused', () => {
  let caseNumber = 0;
  async function freshCa(): Promise<string> {
    const dir = join(root.path, `refusal-${caseNumber++}`);
    await loadOrCreateCertificateAuthority(dir);
    return dir;
  }

  test('a key readable by others: the message says chmod 600', async () => {
    const dir = await freshCa();
    await chmod(join(dir, CA_KEY_FILE), 0o644);
    await assertRefused(dir, /mode 0644.*"chmod 600 [^"]*ca-key\.pem"/);
  });

  test('the certificate deleted while the key is there', async () => {
    const dir = await freshCa();
    await rm(join(dir, CA_CERTIFICATE_FILE));
    await assertRefused(dir, /holds ca-key\.pem but not ca\.pem: restore .*ca\.pem from a backup, or remove/);
  });

  test('the key deleted while the certificate is there', async () => {
    const dir = await freshCa();
    await rm(join(dir, CA_KEY_FILE));
    await assertRefused(dir, /holds ca\.pem but not ca-key\.pem/);
  });

  test('the key replaced by another valid RSA key', async () => {
    const dir = await freshCa();
    const other = generateKeyPairSync('rsa', { modulusLength: 2048, privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });
    await writeFile(join(dir, CA_KEY_FILE), other.privateKey);
    assert.equal(await modeOf(join(dir, CA_KEY_FILE)), 0o600, 'still private, so the mismatch is what is refused');
    await assertRefused(dir, /ca-key\.pem is not the key of .*ca\.pem/);
  });

  test('garbage in ca.pem', async () => {
    const dir = await freshCa();
    await writeFile(join(dir, CA_CERTIFICATE_FILE), 'not a certificate\n');
    await assertRefused(dir, /ca\.pem is not a PEM certificate/);
  });

  test('a certificate that is not a CA in ca.pem', async () => {
    const dir = await freshCa();
    const { authority } = await loadOrCreateCertificateAuthority(dir);
    await writeFile(join(dir, CA_CERTIFICATE_FILE), authority.leafCertificatePemFor('registry.test'));
    await assertRefused(dir, /ca\.pem is not a CA certificate/);
  });

  test('an expired CA', async () => {
    const dir = await freshCa();
    await assertRefused(dir, /ca\.pem expired on .*remove .* so that EdgePier creates a new CA/, { now: () => Date.now() + 11 * 366 * DAY_MS });
  });
});

/** Expects `loadOrCreateCertificateAuthority(dir)` to refuse with `pattern`, without key material in the message. */
async function assertRefused(dir: string, pattern: RegExp, options?: CertificateAuthorityOptions): Promise<void> {
  const keyPem = await readFile(join(dir, CA_KEY_FILE), 'utf8').catch(() => '');
  await assert.rejects(loadOrCreateCertificateAuthority(dir, options), (error: unknown) => {
    assert.ok(error instanceof CertificateAuthorityProblem, `expected a CertificateAuthorityProblem, got ${String(error)}`);
    assert.match(error.message, pattern);
    assert.doesNotMatch(error.message, /PRIVATE KEY/);
    for (const line of keyPem.split('\n').filter((text) => text.length > 20 && !text.startsWith('-----'))) {
      assert.ok(!error.message.includes(line), 'the message contains a line of the key');
    }
    return true;
  });
}

describe('leaf certificates', () => {
  let authority: CertificateAuthority;
  let work: string;
  before(async () => {
    work = join(root.path, 'leaves');
    ({ authority } = await loadOrCreateCertificateAuthority(join(work, 'ca')));
  });

  test('a client trusting ca.pem accepts the leaf for registry.test', async () => {
    const server = await serveTls({ secureContext: authority.secureContextFor('registry.test') });
    try {
      const result = await handshake(server.port, { servername: 'registry.test', ca: authority.certificatePem });
      assert.ok(result.ok, result.ok ? '' : result.error.message);
      assert.equal(result.authorized, true);
      assert.equal(result.peer.subjectAltName, 'DNS:registry.test');
      assert.equal(result.peer.subject, 'CN=registry.test');
      assert.equal(result.peer.issuerCertificate?.fingerprint256, authority.fingerprintSha256);
      const days = (Date.parse(result.peer.validTo) - Date.now()) / DAY_MS;
      assert.ok(days > 29.9 && days <= 30, `leaf valid for ${days} more days`);
    } finally {
      await server.close();
    }
  });

  test('the same leaf is refused for another name (hostname verification)', async () => {
    const server = await serveTls({ secureContext: authority.secureContextFor('registry.test') });
    try {
      const result = await handshake(server.port, { servername: 'other.test', ca: authority.certificatePem });
      assert.equal(result.ok, false);
      assert.equal(result.ok ? '' : result.error.code, 'ERR_TLS_CERT_ALTNAME_INVALID');
    } finally {
      await server.close();
    }
  });

  test('a client that does not trust ca.pem refuses the leaf; the server sent the CA after it', async () => {
    const server = await serveTls({ secureContext: authority.secureContextFor('registry.test') });
    try {
      const result = await handshake(server.port, { servername: 'registry.test' });
      assert.equal(result.ok, false);
      // SELF_SIGNED_CERT_IN_CHAIN, not UNABLE_TO_VERIFY_LEAF_SIGNATURE: the chain held the CA too.
      assert.equal(result.ok ? '' : result.error.code, 'SELF_SIGNED_CERT_IN_CHAIN');
    } finally {
      await server.close();
    }
  });

  test('per-SNI contexts, as the CONNECT interceptor will use them: each name gets its own leaf', async () => {
    const server = await serveTls({
      secureContext: authority.secureContextFor('fallback.test'),
      sniContextFor: (servername) => authority.secureContextFor(servername),
    });
    try {
      for (const name of ['registry-1.docker.io', 'ghcr.io']) {
        const result = await handshake(server.port, { servername: name, ca: authority.certificatePem });
        assert.ok(result.ok, result.ok ? '' : result.error.message);
        assert.equal(result.peer.subjectAltName, `DNS:${name}`);
      }
    } finally {
      await server.close();
    }
  });

  test('an IP literal gets an iPAddress SAN that Node checks when no servername is sent', async () => {
    const server = await serveTls({ secureContext: authority.secureContextFor('127.0.0.1') });
    try {
      const trusted = await handshake(server.port, { ca: authority.certificatePem });
      assert.ok(trusted.ok, trusted.ok ? '' : trusted.error.message);
      assert.equal(trusted.peer.subjectAltName, 'IP Address:127.0.0.1');
    } finally {
      await server.close();
    }
    const wrongAddress = await serveTls({ secureContext: authority.secureContextFor('127.0.0.2') });
    try {
      const refused = await handshake(wrongAddress.port, { ca: authority.certificatePem });
      assert.equal(refused.ok ? '' : refused.error.code, 'ERR_TLS_CERT_ALTNAME_INVALID');
    } finally {
      await wrongAddress.close();
    }
  });

  test('openssl verifies the leaves against ca.pem and shows the extensions clients rely on', async () => {
    const server = await serveTls({ secureContext: authority.secureContextFor('registry.test') });
    let leafPem: string;
    try {
      const result = await handshake(server.port, { servername: 'registry.test', ca: authority.certificatePem });
      assert.ok(result.ok, result.ok ? '' : result.error.message);
      leafPem = result.peer.toString();
    } finally {
      await server.close();
    }
    const files = {
      ca: join(work, 'ca-copy.pem'),
      leaf: join(work, 'leaf.pem'),
      ipv6: join(work, 'leaf-ipv6.pem'),
      mapped: join(work, 'leaf-mapped.pem'),
    };
    await writeFile(files.ca, authority.certificatePem);
    await writeFile(files.leaf, leafPem);
    await writeFile(files.ipv6, authority.leafCertificatePemFor('2001:DB8::1'));
    await writeFile(files.mapped, authority.leafCertificatePemFor('::ffff:198.18.0.2'));

    const verify = (...args: string[]) => runCommand('openssl', ['verify', '-CAfile', files.ca, '-purpose', 'sslserver', ...args]);
    assert.match((await verify('-verify_hostname', 'registry.test', files.leaf)).stdout.toString(), /leaf\.pem: OK/);
    assert.match((await verify('-verify_ip', '2001:db8::1', files.ipv6)).stdout.toString(), /leaf-ipv6\.pem: OK/);
    assert.match((await verify('-verify_ip', '::ffff:198.18.0.2', files.mapped)).stdout.toString(), /leaf-mapped\.pem: OK/);
    await assert.rejects(verify('-verify_hostname', 'other.test', files.leaf), /hostname mismatch/);

    const text = async (path: string) => (await runCommand('openssl', ['x509', '-noout', '-text', '-in', path])).stdout.toString();
    const caText = await text(files.ca);
    assert.match(caText, /X509v3 Basic Constraints: critical\s+CA:TRUE, pathlen:0/);
    assert.match(caText, /X509v3 Key Usage: critical\s+Certificate Sign, CRL Sign/);
    assert.match(caText, /X509v3 Subject Key Identifier/);
    assert.match(caText, /Signature Algorithm: sha256WithRSAEncryption/);
    assert.match(caText, /Public-Key: \(2048 bit\)/);
    const leafText = await text(files.leaf);
    assert.match(leafText, /X509v3 Subject Alternative Name:\s+DNS:registry\.test\n/);
    assert.match(leafText, /CA:FALSE/);
    assert.match(leafText, /X509v3 Key Usage: critical\s+Digital Signature, Key Encipherment/);
    assert.match(leafText, /X509v3 Extended Key Usage:\s+TLS Web Server Authentication/);
    assert.match(leafText, /X509v3 Authority Key Identifier/);
    assert.match(await text(files.ipv6), /IP Address:2001:DB8:0:0:0:0:0:1\n/);
    assert.match(await text(files.mapped), /IP Address:0:0:0:0:0:FFFF:C612:2\n/);

    const fingerprint = (await runCommand('openssl', ['x509', '-noout', '-fingerprint', '-sha256', '-in', files.ca])).stdout.toString();
    assert.equal(fingerprint.trim().split('=')[1], authority.fingerprintSha256);
  });

  test('contexts are cached per lower-cased host, renewed with under a day left, and bounded (least recently used goes)', async () => {
    let clock = Date.now();
    const { authority: cached } = await loadOrCreateCertificateAuthority(join(work, 'ca'), { now: () => clock, maxCachedHosts: 2 });
    const first = cached.secureContextFor('Registry.Test');
    assert.equal(cached.secureContextFor('registry.test'), first);
    const firstLeaf = new X509Certificate(cached.leafCertificatePemFor('registry.test'));

    clock += 28 * DAY_MS;
    assert.equal(cached.secureContextFor('registry.test'), first, 'two days left: kept');
    clock += 1.5 * DAY_MS;
    const renewed = cached.secureContextFor('registry.test');
    assert.notEqual(renewed, first, 'half a day left: renewed');
    const renewedLeaf = new X509Certificate(cached.leafCertificatePemFor('registry.test'));
    assert.notEqual(renewedLeaf.serialNumber, firstLeaf.serialNumber);
    assert.ok(Date.parse(renewedLeaf.validTo) > Date.parse(firstLeaf.validTo));
    assert.ok(renewedLeaf.publicKey.equals(firstLeaf.publicKey), 'one leaf key pair per process');

    const a = cached.secureContextFor('a.test');
    assert.equal(cached.secureContextFor('registry.test'), renewed);
    cached.secureContextFor('b.test');
    assert.equal(cached.secureContextFor('registry.test'), renewed, 'recently used: kept');
    assert.notEqual(cached.secureContextFor('a.test'), a, 'least recently used: dropped and issued again');
  });

  test('hosts that are not a DNS name or an IP literal are refused', () => {
    for (const host of ['', 'a b', 'x'.repeat(300), 'host:443', '[::1]', 'fe80::1%eth0', '-bad.test', 'bad-.test', 'a..test', '*.docker.io', 'registry.test.', '1.2.3']) {
      assert.throws(() => authority.secureContextFor(host), InvalidTlsHost, JSON.stringify(host));
    }
    const longName = `${'a'.repeat(63)}.${'b'.repeat(63)}.test`;
    const leaf = new X509Certificate(authority.leafCertificatePemFor(longName));
    assert.equal(leaf.subjectAltName, `DNS:${longName}`, 'a name too long for a common name still gets its SAN');
    assert.equal(leaf.checkHost(longName), longName);
  });
});

type Handshake =
  | { readonly ok: true; readonly authorized: boolean; readonly peer: X509Certificate }
  | { readonly ok: false; readonly error: NodeJS.ErrnoException };

/** Connects to 127.0.0.1:`port` with Node's default verification and reports how the handshake ended. */
function handshake(port: number, options: ConnectionOptions): Promise<Handshake> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port, ...options });
    socket.once('secureConnect', () => {
      const peer = socket.getPeerX509Certificate();
      socket.destroy();
      if (peer === undefined) resolve({ ok: false, error: new Error('no peer certificate') });
      else resolve({ ok: true, authorized: socket.authorized, peer });
    });
    socket.once('error', (error: NodeJS.ErrnoException) => {
      socket.destroy();
      resolve({ ok: false, error });
    });
  });
}

/**
 * A TLS server on loopback built as the CONNECT interceptor will build it: a server-side
 * TLSSocket over each accepted socket (tls.createServer ignores a `secureContext` option).
 */
async function serveTls(options: { secureContext: SecureContext; sniContextFor?: (servername: string) => SecureContext }): Promise<{ port: number; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    const sniContextFor = options.sniContextFor;
    const secure = new TLSSocket(socket, {
      isServer: true,
      secureContext: options.secureContext,
      ...(sniContextFor === undefined
        ? {}
        : {
            SNICallback: (servername: string, callback: (error: Error | null, context?: SecureContext) => void) => {
              try {
                callback(null, sniContextFor(servername));
              } catch (error) {
                callback(error as Error);
              }
            },
          }),
    });
    // Clients that refuse the leaf abort the handshake; that is the expected outcome there.
    secure.on('error', () => undefined);
    secure.once('secure', () => secure.end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
