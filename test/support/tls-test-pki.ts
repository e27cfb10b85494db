// A throw-away PKI for TLS upstreams in tests, made with the `openssl` CLI: one test CA
// ("EdgePier test upstream CA") and, per host name, a server certificate it signed, with the
// name in subjectAltName (Go, so skopeo, ignores the CN) and the serverAuth EKU. Plus
// self-signed certificates that no test trust store holds, for "invalid certificate" upstreams.
// ECDSA P-256 keys: generated in milliseconds, and Node, curl, nginx and Go all accept them.
import { randomBytes, X509Certificate } from 'node:crypto';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCommand } from './run-command.js';

export const TEST_CA_NAME = 'EdgePier test upstream CA';
/** Long enough for any test run, short enough that a leaked key is worthless tomorrow. */
const VALIDITY_DAYS = 2;
const OPENSSL_TIMEOUT_MS = 10_000;
const NEW_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
// Also keeps host names out of harm's way in openssl config files and file names.
const HOST_NAME = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/;

export interface CertificateFiles {
  /** The DNS name in subjectAltName (and CN). */
  readonly host: string;
  readonly certPath: string;
  readonly keyPath: string;
  readonly certPem: string;
  /** `AB:CD:…`, the format of Node's `getPeerCertificate().fingerprint256`. */
  readonly fingerprint256: string;
}

export interface TestCa {
  readonly certPath: string;
  readonly keyPath: string;
  readonly certPem: string;
  /**
   * A directory holding only the CA, as `ca.crt`: what skopeo's `--cert-dir`/`--src-cert-dir`
   * (containers/image) and docker's certs.d want. Files ending in `.crt` there are CAs
   * added to the system pool; `.cert`/`.key` would be client certificates.
   */
  readonly certDir: string;
}

export interface TestPki {
  readonly dir: string;
  readonly ca: TestCa;
  /** One server certificate per requested host, signed by the CA. */
  readonly servers: ReadonlyMap<string, CertificateFiles>;
  /** The server certificate for `host`; throws when it was not requested. */
  server(host: string): CertificateFiles;
}

/** Creates the CA and one CA-signed server certificate per host under `dir` (which must exist). */
export async function createTestPki(dir: string, hosts: readonly string[]): Promise<TestPki> {
  for (const host of hosts) checkHostName(host);
  const caDir = join(dir, 'ca');
  const certDir = join(dir, 'ca-cert-dir');
  await mkdir(caDir, { recursive: true });
  await mkdir(certDir, { recursive: true });
  const caCertPath = join(caDir, 'ca.crt');
  const caKeyPath = join(caDir, 'ca.key');
  const caConfig = join(caDir, 'ca.cnf');
  // Our own config files throughout, so the host's openssl.cnf defaults never leak in.
  await writeFile(
    caConfig,
    [
      '[req]', 'prompt = no', 'distinguished_name = dn', 'x509_extensions = ca_ext',
      '[dn]', `CN = ${TEST_CA_NAME}`,
      '[ca_ext]',
      'basicConstraints = critical, CA:TRUE, pathlen:0',
      'keyUsage = critical, keyCertSign, cRLSign',
      'subjectKeyIdentifier = hash',
      '',
    ].join('\n'),
  );
  await openssl(['req', '-x509', '-new', '-config', caConfig, ...NEW_KEY, '-keyout', caKeyPath, '-out', caCertPath, '-days', String(VALIDITY_DAYS)]);
  await copyFile(caCertPath, join(certDir, 'ca.crt'));
  const ca: TestCa = { certPath: caCertPath, keyPath: caKeyPath, certPem: await readFile(caCertPath, 'utf8'), certDir };

  const servers = new Map<string, CertificateFiles>();
  const issued = await Promise.all(hosts.map((host) => issueServerCertificate(join(dir, 'servers'), host, ca)));
  for (const certificate of issued) servers.set(certificate.host, certificate);
  return {
    dir,
    ca,
    servers,
    server(host) {
      const certificate = servers.get(host);
      if (!certificate) throw new Error(`test PKI has no certificate for ${host} (has ${[...servers.keys()].join(', ')})`);
      return certificate;
    },
  };
}

/**
 * A server certificate for `host` that signs itself: right name, right EKU, but no trust store
 * of ours holds it, so verifying clients must fail with "unknown authority"/"self-signed"
 * (curl exit 60) and not with a name mismatch.
 */
export async function createSelfSignedCertificate(dir: string, host: string): Promise<CertificateFiles> {
  checkHostName(host);
  const hostDir = join(dir, 'self-signed', host);
  await mkdir(hostDir, { recursive: true });
  const config = join(hostDir, 'cert.cnf');
  await writeFile(config, ['[req]', 'prompt = no', 'distinguished_name = dn', 'x509_extensions = leaf_ext', '[dn]', `CN = ${host}`, ...leafExtensions(host, false), ''].join('\n'));
  const certPath = join(hostDir, 'server.crt');
  const keyPath = join(hostDir, 'server.key');
  await openssl(['req', '-x509', '-new', '-config', config, ...NEW_KEY, '-keyout', keyPath, '-out', certPath, '-days', String(VALIDITY_DAYS)]);
  return certificateFiles(host, certPath, keyPath);
}

async function issueServerCertificate(serversDir: string, host: string, ca: TestCa): Promise<CertificateFiles> {
  const hostDir = join(serversDir, host);
  await mkdir(hostDir, { recursive: true });
  const config = join(hostDir, 'cert.cnf');
  await writeFile(config, ['[req]', 'prompt = no', 'distinguished_name = dn', '[dn]', `CN = ${host}`, ...leafExtensions(host, true), ''].join('\n'));
  const certPath = join(hostDir, 'server.crt');
  const keyPath = join(hostDir, 'server.key');
  const csrPath = join(hostDir, 'server.csr');
  await openssl(['req', '-new', '-config', config, ...NEW_KEY, '-keyout', keyPath, '-out', csrPath]);
  await openssl([
    'x509', '-req', '-in', csrPath, '-CA', ca.certPath, '-CAkey', ca.keyPath,
    // Random serials: two certificates from one CA must never share one.
    '-set_serial', `0x${randomBytes(16).toString('hex')}`,
    '-days', String(VALIDITY_DAYS), '-extfile', config, '-extensions', 'leaf_ext', '-out', certPath,
  ]);
  return certificateFiles(host, certPath, keyPath);
}

/** The `[leaf_ext]` section of a TLS server certificate for `host`. */
function leafExtensions(host: string, hasIssuer: boolean): string[] {
  return [
    '[leaf_ext]',
    'basicConstraints = critical, CA:FALSE',
    'keyUsage = critical, digitalSignature',
    'extendedKeyUsage = serverAuth',
    `subjectAltName = DNS:${host}`,
    'subjectKeyIdentifier = hash',
    ...(hasIssuer ? ['authorityKeyIdentifier = keyid:always'] : []),
  ];
}

async function certificateFiles(host: string, certPath: string, keyPath: string): Promise<CertificateFiles> {
  const certPem = await readFile(certPath, 'utf8');
  return { host, certPath, keyPath, certPem, fingerprint256: new X509Certificate(certPem).fingerprint256 };
}

function checkHostName(host: string): void {
  if (!HOST_NAME.test(host)) throw new Error(`not a lower-case DNS host name: ${JSON.stringify(host)}`);
}

async function openssl(args: readonly string[]): Promise<void> {
  await runCommand('openssl', args, { timeoutMs: OPENSSL_TIMEOUT_MS });
}
