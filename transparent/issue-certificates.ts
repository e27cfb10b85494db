import { createHash, createPublicKey, randomBytes, sign, X509Certificate, type KeyObject } from 'node:crypto';
import { isIP, isIPv6 } from 'node:net';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
// A CommonJS package whose re-exports Node's ESM loader cannot name one by one.
import asn1X509 from '@peculiar/asn1-x509';

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

const {
  AlgorithmIdentifier, AttributeTypeAndValue, AttributeValue, AuthorityKeyIdentifier, BasicConstraints, Certificate, ExtendedKeyUsage, Extension,
  Extensions, GeneralName, KeyUsage, KeyUsageFlags, Name, RelativeDistinguishedName, SubjectAlternativeName, SubjectKeyIdentifier,
  SubjectPublicKeyInfo, TBSCertificate, Validity, Version,
} = asn1X509;
type Name = InstanceType<typeof Name>;
const COMMON_NAME = '2.5.4.3';
const ORGANIZATION_NAME = '2.5.4.10';
/** RFC 3279: the parameters of sha256WithRSAEncryption are an explicit NULL. */
const DER_NULL = new Uint8Array([0x05, 0x00]).buffer;

/** A host a leaf certificate can name: a DNS name, or an IP literal. */
export interface TlsHost {
  /** Lower-cased, as it goes into the certificate and the cache key. */
  readonly name: string;
  /** Set for IP literals: the address in a form the iPAddress subjectAltName encoder reads. */
  readonly address?: string;
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
  if (isIP(name) !== 0) return { name, address: encodableAddress(name) };
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
  const notAfter = new Date(options.now);
  notAfter.setUTCFullYear(notAfter.getUTCFullYear() + CA_VALIDITY_YEARS);
  const name = distinguishedName([
    [COMMON_NAME, options.commonName],
    [ORGANIZATION_NAME, 'EdgePier'],
  ]);
  const publicKey = subjectPublicKeyInfo(options.publicKeyPem);
  return signCertificate(
    new TBSCertificate({
      version: Version.v3,
      serialNumber: randomSerialNumber(),
      signature: sha256WithRsa(),
      issuer: name,
      validity: new Validity({ notBefore: new Date(options.now - CLOCK_SKEW_MS), notAfter }),
      subject: name,
      subjectPublicKeyInfo: publicKey,
      extensions: new Extensions([
        extension('2.5.29.19', true, new BasicConstraints({ cA: true, pathLenConstraint: 0 })),
        extension('2.5.29.15', true, new KeyUsage(KeyUsageFlags.keyCertSign | KeyUsageFlags.cRLSign)),
        extension('2.5.29.14', false, new SubjectKeyIdentifier(keyIdentifierOf(publicKey))),
      ]),
    }),
    options.privateKey,
  );
}

/** What signing leaves needs from the CA, parsed once. */
export interface LeafIssuer {
  readonly name: Name;
  /** The CA's subjectKeyIdentifier, for the leaves' authorityKeyIdentifier. */
  readonly keyIdentifier: ArrayBuffer;
  readonly notAfter: Date;
  readonly privateKey: KeyObject;
}

/**
 * Reads any RFC 5280 CA certificate, so the CAs that earlier versions wrote with node-forge
 * keep working: the issuer name is copied as parsed, and a CA without a subjectKeyIdentifier
 * gets the one RFC 5280 §4.2.1.2 method 1 computes, as forge did.
 */
export function leafIssuerFrom(certificatePem: string, privateKey: KeyObject): LeafIssuer {
  const certificate = AsnConvert.parse(new X509Certificate(certificatePem).raw, Certificate);
  const { tbsCertificate } = certificate;
  const stated = tbsCertificate.extensions?.find((candidate) => candidate.extnID === '2.5.29.14');
  const keyIdentifier =
    stated === undefined ? keyIdentifierOf(tbsCertificate.subjectPublicKeyInfo) : AsnConvert.parse(stated.extnValue, SubjectKeyIdentifier).buffer;
  return { name: tbsCertificate.subject, keyIdentifier, notAfter: tbsCertificate.validity.notAfter.getTime(), privateKey };
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
  // Whole seconds: X.509 times have no fractions, and the cache compares these with the clock.
  const notBefore = new Date(Math.floor((options.now - CLOCK_SKEW_MS) / 1000) * 1000);
  const notAfter = new Date(Math.floor(Math.min(options.now + LEAF_VALIDITY_MS, issuer.notAfter.getTime()) / 1000) * 1000);
  // RFC 5280: a subject too long for a common name stays empty, and then the SAN is critical.
  const hasCommonName = host.name.length <= MAX_COMMON_NAME_LENGTH;
  const publicKey = subjectPublicKeyInfo(options.publicKeyPem);
  const altName = host.address === undefined ? new GeneralName({ dNSName: host.name }) : new GeneralName({ iPAddress: host.address });
  const certificatePem = signCertificate(
    new TBSCertificate({
      version: Version.v3,
      serialNumber: randomSerialNumber(),
      signature: sha256WithRsa(),
      issuer: issuer.name,
      validity: new Validity({ notBefore, notAfter }),
      subject: distinguishedName(hasCommonName ? [[COMMON_NAME, host.name]] : []),
      subjectPublicKeyInfo: publicKey,
      extensions: new Extensions([
        extension('2.5.29.19', false, new BasicConstraints({ cA: false })),
        extension('2.5.29.15', true, new KeyUsage(KeyUsageFlags.digitalSignature | KeyUsageFlags.keyEncipherment)),
        extension('2.5.29.37', false, new ExtendedKeyUsage(['1.3.6.1.5.5.7.3.1'])),
        extension('2.5.29.14', false, new SubjectKeyIdentifier(keyIdentifierOf(publicKey))),
        extension('2.5.29.35', false, new AuthorityKeyIdentifier({ keyIdentifier: new OctetString(issuer.keyIdentifier) })),
        extension('2.5.29.17', !hasCommonName, new SubjectAlternativeName([altName])),
      ]),
    }),
    issuer.privateKey,
  );
  return { certificatePem, notBefore: notBefore.getTime(), notAfter: notAfter.getTime() };
}

/**
 * Signs with Node's crypto (OpenSSL, ~1 ms, synchronous, so a leaf is ready inside the
 * CONNECT handler); the ASN.1 library only encodes the structures.
 */
function signCertificate(toBeSigned: InstanceType<typeof TBSCertificate>, privateKey: KeyObject): string {
  const der = Buffer.from(AsnConvert.serialize(toBeSigned));
  const certificate = new Certificate({ tbsCertificate: toBeSigned, tbsCertificateRaw: ownBytes(der), signatureAlgorithm: sha256WithRsa(), signatureValue: ownBytes(sign('sha256', der, privateKey)) });
  return new X509Certificate(Buffer.from(AsnConvert.serialize(certificate))).toString();
}

function sha256WithRsa(): InstanceType<typeof AlgorithmIdentifier> {
  return new AlgorithmIdentifier({ algorithm: SHA256_WITH_RSA, parameters: DER_NULL });
}

function extension(extnID: string, critical: boolean, value: unknown): InstanceType<typeof Extension> {
  return new Extension({ extnID, critical, extnValue: new OctetString(AsnConvert.serialize(value)) });
}

/** One attribute per RDN, UTF8String values, as forge wrote them. */
function distinguishedName(attributes: readonly (readonly [type: string, value: string])[]): Name {
  return new Name(
    attributes.map(([type, value]) => new RelativeDistinguishedName([new AttributeTypeAndValue({ type, value: new AttributeValue({ utf8String: value }) })])),
  );
}

function subjectPublicKeyInfo(publicKeyPem: string): InstanceType<typeof SubjectPublicKeyInfo> {
  return AsnConvert.parse(createPublicKey(publicKeyPem).export({ type: 'spki', format: 'der' }), SubjectPublicKeyInfo);
}

/** RFC 5280 §4.2.1.2 method 1: SHA-1 of the subjectPublicKey bits. */
function keyIdentifierOf(publicKey: InstanceType<typeof SubjectPublicKeyInfo>): ArrayBuffer {
  return ownBytes(createHash('sha1').update(new Uint8Array(publicKey.subjectPublicKey)).digest());
}

/** The bytes of `buffer` alone: a small Buffer may be a view into a shared pool. */
function ownBytes(buffer: Buffer): ArrayBuffer {
  return new Uint8Array(buffer).buffer;
}

/**
 * 16 random bytes as a positive DER integer. The top bit is cleared (else the serial is
 * negative) and the first byte kept non-zero (else the encoding is not minimal): Go's parser
 * rejects both.
 */
function randomSerialNumber(): ArrayBuffer {
  const bytes = randomBytes(16);
  bytes.writeUInt8(bytes.readUInt8(0) & 0x7f || 0x01, 0);
  return ownBytes(bytes);
}

/**
 * An IP literal that `net.isIP` accepted, as the iPAddress encoder reads it: the WHATWG URL
 * parser rewrites IPv6 into plain hex groups (`::ffff:198.18.0.2` becomes `::ffff:c612:2`),
 * which is the one form the encoder does not handle by itself.
 */
function encodableAddress(literal: string): string {
  return isIPv6(literal) ? new URL(`http://[${literal}]/`).hostname.slice(1, -1) : literal;
}
