import { randomBytes, sign, type KeyObject } from 'node:crypto';
import { isIP, isIPv4 } from 'node:net';
import forge from 'node-forge';

/** sha256WithRSAEncryption. */
const SHA256_WITH_RSA = '1.2.840.113549.1.1.11';
const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
/** Certificates start this long ago, so a client whose clock runs behind still accepts them. */
const CLOCK_SKEW_MS = HOUR_MS;
export const CA_VALIDITY_YEARS = 10;
export const LEAF_VALIDITY_MS = 30 * DAY_MS;
/** X.509's upper bound for a common name (RFC 5280 ub-common-name). */
const MAX_COMMON_NAME_LENGTH = 64;
const MAX_DNS_NAME_LENGTH = 253;
const DNS_LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

// node-forge has this function, but @types/node-forge does not declare it.
const { getTBSCertificate } = forge.pki as typeof forge.pki & { getTBSCertificate(this: void, certificate: forge.pki.Certificate): forge.asn1.Asn1 };

/** A host a leaf certificate can name: a DNS name, or an IP literal with its address bytes. */
export interface TlsHost {
  /** Lower-cased, as it goes into the certificate and the cache key. */
  readonly name: string;
  /** Set for IP literals: 4 or 16 bytes for the iPAddress subjectAltName. */
  readonly address?: Buffer;
}

/** `secureContextFor` was given something no certificate can name. */
export class InvalidTlsHost extends Error {
  readonly code = 'EINVALIDHOST';

  constructor(host: string, reason: string) {
    super(`cannot issue a TLS certificate for ${JSON.stringify(host.slice(0, 100))}: ${reason}`);
    this.name = 'InvalidTlsHost';
  }
}

/** Accepts a DNS name (`registry-1.docker.io`) or an IP literal without brackets (`198.18.0.2`, `::1`). */
export function parseTlsHost(host: string): TlsHost {
  const name = host.toLowerCase();
  if (name.includes('%')) throw new InvalidTlsHost(host, 'IPv6 zone identifiers cannot appear in a certificate');
  if (isIP(name) !== 0) return { name, address: ipAddressBytes(name) };
  if (name.length === 0) throw new InvalidTlsHost(host, 'the host is empty');
  if (name.length > MAX_DNS_NAME_LENGTH) throw new InvalidTlsHost(host, `a DNS name has at most ${MAX_DNS_NAME_LENGTH} characters`);
  const labels = name.split('.');
  if (!labels.every((label) => DNS_LABEL.test(label))) {
    throw new InvalidTlsHost(host, 'not a DNS name (letters, digits and inner hyphens, dot-separated, no port) nor an IP literal');
  }
  // An all-digit last label would read as a (malformed) IPv4 address to some clients.
  if (/^\d+$/.test(labels[labels.length - 1] ?? '')) throw new InvalidTlsHost(host, 'neither an IP address nor a DNS name with a top-level domain');
  return { name };
}

/** Self-signed CA certificate that may sign leaves but no further CAs (pathLen 0). */
export function buildCaCertificate(options: { publicKeyPem: string; privateKey: KeyObject; commonName: string; now: number }): string {
  const certificate = forge.pki.createCertificate();
  certificate.publicKey = forge.pki.publicKeyFromPem(options.publicKeyPem);
  certificate.serialNumber = randomSerialNumber();
  certificate.validity.notBefore = new Date(options.now - CLOCK_SKEW_MS);
  const notAfter = new Date(options.now);
  notAfter.setUTCFullYear(notAfter.getUTCFullYear() + CA_VALIDITY_YEARS);
  certificate.validity.notAfter = notAfter;
  const name = [
    { name: 'commonName', value: options.commonName },
    { name: 'organizationName', value: 'EdgePier' },
  ];
  certificate.setSubject(name);
  certificate.setIssuer(name);
  certificate.setExtensions([
    { name: 'basicConstraints', critical: true, cA: true, pathLenConstraint: 0 },
    { name: 'keyUsage', critical: true, keyCertSign: true, cRLSign: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  return signCertificate(certificate, options.privateKey);
}

/** What signing leaves needs from the CA, parsed once. */
export interface LeafIssuer {
  readonly name: forge.pki.CertificateField[];
  /** The CA's subjectKeyIdentifier as a binary string, for the leaves' authorityKeyIdentifier. */
  readonly keyIdentifier: string;
  readonly notAfter: Date;
  readonly privateKey: KeyObject;
}

export function leafIssuerFrom(certificatePem: string, privateKey: KeyObject): LeafIssuer {
  const certificate = forge.pki.certificateFromPem(certificatePem);
  // forge returns null, not the undefined its types promise, when the extension is absent.
  const extension: unknown = certificate.getExtension('subjectKeyIdentifier');
  const keyIdentifier =
    typeof extension === 'object' && extension !== null && 'subjectKeyIdentifier' in extension && typeof extension.subjectKeyIdentifier === 'string'
      ? forge.util.hexToBytes(extension.subjectKeyIdentifier)
      : certificate.generateSubjectKeyIdentifier().getBytes();
  return { name: certificate.subject.attributes, keyIdentifier, notAfter: certificate.validity.notAfter, privateKey };
}

export interface IssuedLeaf {
  readonly certificatePem: string;
  readonly notBefore: number;
  readonly notAfter: number;
}

/**
 * A server certificate for `host`, valid for 30 days (never past the CA). The name goes into
 * subjectAltName, because Go clients (skopeo, containerd) ignore the common name.
 */
export function issueLeafCertificate(options: { issuer: LeafIssuer; host: TlsHost; publicKeyPem: string; now: number }): IssuedLeaf {
  const { issuer, host } = options;
  const certificate = forge.pki.createCertificate();
  certificate.publicKey = forge.pki.publicKeyFromPem(options.publicKeyPem);
  certificate.serialNumber = randomSerialNumber();
  const notBefore = new Date(options.now - CLOCK_SKEW_MS);
  const notAfter = new Date(Math.min(options.now + LEAF_VALIDITY_MS, issuer.notAfter.getTime()));
  certificate.validity.notBefore = notBefore;
  certificate.validity.notAfter = notAfter;
  // RFC 5280: a subject too long for a common name stays empty, and then the SAN is critical.
  const hasCommonName = host.name.length <= MAX_COMMON_NAME_LENGTH;
  certificate.setSubject(hasCommonName ? [{ name: 'commonName', value: host.name }] : []);
  certificate.setIssuer(issuer.name);
  const altName = host.address ? { type: 7, value: host.address.toString('binary') } : { type: 2, value: host.name };
  certificate.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', critical: true, digitalSignature: true, keyEncipherment: true },
    { name: 'extKeyUsage', serverAuth: true },
    { name: 'subjectKeyIdentifier' },
    { name: 'authorityKeyIdentifier', keyIdentifier: issuer.keyIdentifier },
    { name: 'subjectAltName', critical: !hasCommonName, altNames: [altName] },
  ]);
  return { certificatePem: signCertificate(certificate, issuer.privateKey), notBefore: notBefore.getTime(), notAfter: notAfter.getTime() };
}

/**
 * Signs with Node's crypto rather than forge's `sign`: forge does RSA in JavaScript, which
 * blocked the event loop for about 30 ms per certificate on our machines; OpenSSL takes ~1 ms.
 */
function signCertificate(certificate: forge.pki.Certificate, privateKey: KeyObject): string {
  certificate.signatureOid = SHA256_WITH_RSA;
  certificate.siginfo.algorithmOid = SHA256_WITH_RSA;
  const toBeSigned = getTBSCertificate(certificate);
  certificate.tbsCertificate = toBeSigned;
  const der = Buffer.from(forge.asn1.toDer(toBeSigned).getBytes(), 'binary');
  certificate.signature = sign('sha256', der, privateKey).toString('binary');
  // forge ends PEM lines with CRLF; files an operator may `cat` or diff read better with LF.
  return forge.pki.certificateToPem(certificate).replace(/\r\n/g, '\n');
}

/**
 * 16 random bytes as a positive DER integer. The top bit is cleared (else the serial is
 * negative) and the first byte kept non-zero (else the encoding is not minimal): Go's parser
 * rejects both.
 */
function randomSerialNumber(): string {
  const bytes = randomBytes(16);
  bytes.writeUInt8(bytes.readUInt8(0) & 0x7f || 0x01, 0);
  return bytes.toString('hex');
}

/** Address bytes of an IP literal that `net.isIP` accepted, including `::ffff:1.2.3.4` forms. */
function ipAddressBytes(literal: string): Buffer {
  if (isIPv4(literal)) return Buffer.from(literal.split('.').map(Number));
  const bytes = Buffer.alloc(16);
  let text = literal;
  const embeddedIPv4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text)?.[1];
  if (embeddedIPv4 !== undefined) {
    const tail = ipAddressBytes(embeddedIPv4);
    text = `${text.slice(0, -embeddedIPv4.length)}${tail.readUInt16BE(0).toString(16)}:${tail.readUInt16BE(2).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const headGroups = head === '' ? [] : head.split(':');
  const tailGroups = tail === undefined || tail === '' ? [] : tail.split(':');
  const zeroGroups = tail === undefined ? 0 : 8 - headGroups.length - tailGroups.length;
  const groups = [...headGroups, ...Array.from({ length: zeroGroups }, () => '0'), ...tailGroups];
  groups.forEach((group, index) => bytes.writeUInt16BE(Number.parseInt(group, 16), index * 2));
  return bytes;
}
