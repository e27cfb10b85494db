import { createPrivateKey, generateKeyPair, randomBytes, X509Certificate, type KeyObject } from 'node:crypto';
import { join, resolve } from 'node:path';
import { createSecureContext, type SecureContext } from 'node:tls';
import { promisify } from 'node:util';
import { CA_CERTIFICATE_FILE, CA_KEY_FILE, CertificateAuthorityProblem, readCaFiles, startOverAdvice, writeCaFilesAtomically, type CaFiles } from './ca-files.js';
import { buildCaCertificate, issueLeafCertificate, leafIssuerFrom, parseTlsHost, type IssuedLeaf, type LeafIssuer, type TlsHost } from './issue-certificates.js';

export { CA_CERTIFICATE_FILE, CA_KEY_FILE, CertificateAuthorityProblem } from './ca-files.js';
export { InvalidTlsHost } from './issue-certificates.js';

export interface CertificateAuthorityOptions {
  /** Clock in epoch milliseconds; tests move it to see leaves renewed and a CA expire. */
  readonly now?: () => number;
  /** TLS contexts kept, one per host; beyond this the least recently used is dropped. */
  readonly maxCachedHosts?: number;
}

/**
 * Bounds the leaf cache so that clients asking for ever new hosts cannot grow memory without
 * limit; a real site talks to a handful of registries.
 */
const DEFAULT_MAX_CACHED_HOSTS = 1000;
/** A cached leaf with less validity than this left is replaced, so no handshake gets a leaf about to expire. */
const RENEW_WITHIN_MS = 24 * 3_600_000;
const RSA_MODULUS_BITS = 2048;

interface PemKeyPair {
  readonly publicKeyPem: string;
  readonly privateKeyPem: string;
}

interface CachedLeaf extends IssuedLeaf {
  readonly context: SecureContext;
}

/**
 * The local CA of transparent mode: clients trust `certificatePem` once, and EdgePier then
 * answers TLS for registry hosts with leaves it signs on demand.
 */
export class CertificateAuthority {
  readonly certificatePem: string;
  /** Uppercase hex pairs joined by colons, as `openssl x509 -fingerprint -sha256` prints it. */
  readonly fingerprintSha256: string;
  /** `CN=EdgePier local CA 1a2b3c4d, O=EdgePier`, for log lines. */
  readonly subject: string;
  private readonly issuer: LeafIssuer;
  /** One key pair for every leaf of this process: generating one per host would cost ~100 ms each. */
  private readonly leafKeys: PemKeyPair;
  private readonly now: () => number;
  private readonly maxCachedHosts: number;
  /** Map order is use order: a hit is re-inserted, so the first key is the least recently used. */
  private readonly leaves = new Map<string, CachedLeaf>();

  constructor(parts: { certificate: X509Certificate; issuer: LeafIssuer; leafKeys: PemKeyPair; options: CertificateAuthorityOptions }) {
    this.certificatePem = parts.certificate.toString();
    this.fingerprintSha256 = parts.certificate.fingerprint256;
    this.subject = parts.certificate.subject.split('\n').join(', ');
    this.issuer = parts.issuer;
    this.leafKeys = parts.leafKeys;
    this.now = parts.options.now ?? (() => Date.now());
    this.maxCachedHosts = Math.max(1, parts.options.maxCachedHosts ?? DEFAULT_MAX_CACHED_HOSTS);
  }

  /**
   * TLS server credentials for `host` (a DNS name, or an IP literal without brackets): a leaf
   * signed by this CA, followed by the CA certificate. Throws `InvalidTlsHost` for anything else.
   */
  secureContextFor(host: string): SecureContext {
    return this.leafFor(host).context;
  }

  /** The leaf certificate that `secureContextFor(host)` presents, for diagnostics and tests. */
  leafCertificatePemFor(host: string): string {
    return this.leafFor(host).certificatePem;
  }

  /**
   * The same credentials as PEM, for servers that take `key`/`cert` options (`https.createServer`
   * ignores a `secureContext`). The key is the in-memory leaf key, never the CA's.
   */
  serverCredentialsFor(host: string): { key: string; cert: string } {
    const leaf = this.leafFor(host);
    return { key: this.leafKeys.privateKeyPem, cert: `${leaf.certificatePem.trimEnd()}\n${this.certificatePem.trimEnd()}\n` };
  }

  private leafFor(host: string): CachedLeaf {
    const parsed = parseTlsHost(host);
    const now = this.now();
    const cached = this.leaves.get(parsed.name);
    this.leaves.delete(parsed.name);
    const fresh = cached !== undefined && cached.notBefore <= now && cached.notAfter - now >= RENEW_WITHIN_MS;
    const leaf = fresh ? cached : this.issue(parsed, now);
    this.leaves.set(parsed.name, leaf);
    for (const leastRecentlyUsed of this.leaves.keys()) {
      if (this.leaves.size <= this.maxCachedHosts) break;
      this.leaves.delete(leastRecentlyUsed);
    }
    return leaf;
  }

  private issue(host: TlsHost, now: number): CachedLeaf {
    const leaf = issueLeafCertificate({ issuer: this.issuer, host, publicKeyPem: this.leafKeys.publicKeyPem, now });
    const chain = `${leaf.certificatePem.trimEnd()}\n${this.certificatePem.trimEnd()}\n`;
    return { ...leaf, context: createSecureContext({ key: this.leafKeys.privateKeyPem, cert: chain }) };
  }
}

/**
 * Loads the CA kept in `dir` (`ca.pem`, `ca-key.pem`), creating it on first use. Throws
 * `CertificateAuthorityProblem` when the files there cannot be trusted or used.
 */
export async function loadOrCreateCertificateAuthority(
  dir: string,
  options: CertificateAuthorityOptions = {},
): Promise<{ authority: CertificateAuthority; created: boolean }> {
  const directory = resolve(dir);
  const now = options.now ?? (() => Date.now());
  // The leaf key is generated while the CA loads; it lives in memory only.
  const [{ files, created }, leafKeys] = await Promise.all([loadOrCreateFiles(directory, now), generateRsaKeyPair()]);
  const { certificate, privateKey } = checkCaFiles(directory, files, now());
  let issuer: LeafIssuer;
  try {
    issuer = leafIssuerFrom(certificate.toString(), privateKey);
  } catch (error) {
    throw new CertificateAuthorityProblem(`${join(directory, CA_CERTIFICATE_FILE)} cannot be used to sign certificates: ${startOverAdvice(directory)}`, { cause: error });
  }
  return { authority: new CertificateAuthority({ certificate, issuer, leafKeys, options }), created };
}

async function loadOrCreateFiles(directory: string, now: () => number): Promise<{ files: CaFiles; created: boolean }> {
  const existing = await readCaFiles(directory);
  if (existing !== undefined) return { files: existing, created: false };
  const keys = await generateRsaKeyPair();
  const certificatePem = buildCaCertificate({
    publicKeyPem: keys.publicKeyPem,
    privateKey: createPrivateKey(keys.privateKeyPem),
    // The random part tells apart the CAs of different machines in a trust store.
    commonName: `EdgePier local CA ${randomBytes(4).toString('hex')}`,
    now: now(),
  });
  const files = { certificatePem, keyPem: keys.privateKeyPem };
  if (await writeCaFilesAtomically(directory, files)) return { files, created: true };
  const winner = await readCaFiles(directory);
  if (winner === undefined) {
    throw new CertificateAuthorityProblem(
      `${directory} holds other files but no CA: EdgePier creates its CA in a directory of its own, so choose a new or empty directory`,
    );
  }
  return { files: winner, created: false };
}

/** The checks before trusting the files; messages name the file, never its content. */
function checkCaFiles(directory: string, files: CaFiles, now: number): { certificate: X509Certificate; privateKey: KeyObject } {
  const certificatePath = join(directory, CA_CERTIFICATE_FILE);
  const keyPath = join(directory, CA_KEY_FILE);
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(files.certificatePem);
  } catch (error) {
    throw new CertificateAuthorityProblem(`${certificatePath} is not a PEM certificate: restore it from a backup, ${startOverAdvice(directory)}`, { cause: error });
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(files.keyPem);
  } catch (error) {
    throw new CertificateAuthorityProblem(`${keyPath} is not an unencrypted PEM key: restore it from a backup, ${startOverAdvice(directory)}`, { cause: error });
  }
  if (privateKey.asymmetricKeyType !== 'rsa') {
    throw new CertificateAuthorityProblem(`${keyPath} is a ${privateKey.asymmetricKeyType ?? 'unknown'} key but EdgePier signs with RSA: ${startOverAdvice(directory)}`);
  }
  if (!certificate.ca) {
    throw new CertificateAuthorityProblem(`${certificatePath} is not a CA certificate (no basicConstraints CA:TRUE): restore it from a backup, ${startOverAdvice(directory)}`);
  }
  if (!certificate.checkPrivateKey(privateKey)) {
    throw new CertificateAuthorityProblem(`${keyPath} is not the key of ${certificatePath}: restore the matching pair from a backup, ${startOverAdvice(directory)}`);
  }
  if (Date.parse(certificate.validTo) <= now) {
    throw new CertificateAuthorityProblem(`${certificatePath} expired on ${certificate.validTo}: remove ${directory} so that EdgePier creates a new CA, then have every client trust the new ${CA_CERTIFICATE_FILE}`);
  }
  if (Date.parse(certificate.validFrom) > now) {
    throw new CertificateAuthorityProblem(`${certificatePath} is not valid before ${certificate.validFrom}: check this machine's clock`);
  }
  return { certificate, privateKey };
}

const generateKeyPairAsync = promisify(generateKeyPair);

/** RSA with Node's crypto, off the event loop: forge's JavaScript keygen takes seconds. */
async function generateRsaKeyPair(): Promise<PemKeyPair> {
  const { publicKey, privateKey } = await generateKeyPairAsync('rsa', {
    modulusLength: RSA_MODULUS_BITS,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  return { publicKeyPem: publicKey, privateKeyPem: privateKey };
}
