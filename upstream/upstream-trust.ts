import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { Agent as HttpsAgent } from 'node:https';
import { createSecureContext, rootCertificates } from 'node:tls';
import { hasCode } from '../cache/blob-store.js';

/**
 * The CAs that upstream registries' certificates are verified against: the system trust
 * store, so a site's own CA installed with update-ca-certificates counts, plus an optional
 * extra bundle. Verification is never switched off; a certificate that fails it fails the
 * request.
 */
export interface UpstreamTrust {
  /** Every trusted CA certificate as PEM (for callers that build their own TLS options). */
  readonly certificates: readonly string[];
  /** Where the CAs came from, for the start-up log line. */
  readonly description: string;
  /** One keep-alive agent for every upstream HTTPS call, built on one parsed trust store. */
  readonly agent: HttpsAgent;
}

/** Debian/Ubuntu, RHEL/Fedora, Alpine/others: the first that exists is the system store. */
export const SYSTEM_BUNDLE_PATHS: readonly string[] = [
  '/etc/ssl/certs/ca-certificates.crt',
  '/etc/pki/tls/certs/ca-bundle.crt',
  '/etc/ssl/cert.pem',
];

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

export class UpstreamTrustProblem extends Error {
  override readonly name = 'UpstreamTrustProblem';
}

export interface UpstreamTrustOptions {
  /** `--upstream-ca-file`. */
  readonly extraCaFile: string | null;
  /** `SSL_CERT_FILE`, as OpenSSL and Go honour it, names the system bundle explicitly. */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** For tests; defaults to SYSTEM_BUNDLE_PATHS. */
  readonly systemBundlePaths?: readonly string[];
}

export async function loadUpstreamTrust(options: UpstreamTrustOptions): Promise<UpstreamTrust> {
  const system = await loadSystemStore(options.env.SSL_CERT_FILE, options.systemBundlePaths ?? SYSTEM_BUNDLE_PATHS);
  const certificates = [...system.certificates];
  let description = system.description;
  if (options.extraCaFile !== null) {
    const extra = await readCertificates(options.extraCaFile, '--upstream-ca-file');
    if (extra.length === 0) throw new UpstreamTrustProblem(`--upstream-ca-file ${options.extraCaFile} holds no PEM certificate`);
    certificates.push(...extra);
    description += ` + ${extra.length} from ${options.extraCaFile}`;
  }
  let secureContext;
  try {
    secureContext = createSecureContext({ ca: certificates });
  } catch (error) {
    throw new UpstreamTrustProblem(`a trusted CA certificate does not parse: ${(error as Error).message}`);
  }
  // Node would otherwise parse the whole bundle again for every new TLS connection.
  const agent = new HttpsAgent({ keepAlive: true, secureContext });
  return { certificates, description, agent };
}

async function loadSystemStore(
  sslCertFile: string | undefined,
  candidates: readonly string[],
): Promise<{ certificates: readonly string[]; description: string }> {
  if (sslCertFile !== undefined && sslCertFile !== '') {
    const certificates = await readCertificates(sslCertFile, 'SSL_CERT_FILE');
    if (certificates.length === 0) throw new UpstreamTrustProblem(`SSL_CERT_FILE ${sslCertFile} holds no PEM certificate`);
    return { certificates, description: `${certificates.length} CAs from SSL_CERT_FILE ${sslCertFile}` };
  }
  for (const path of candidates) {
    const certificates = await readCertificates(path, 'the system trust store', { missingIsEmpty: true });
    if (certificates.length > 0) return { certificates, description: `${certificates.length} CAs from ${path}` };
  }
  // A minimal image without ca-certificates: Node's built-in Mozilla roots are the closest thing.
  return { certificates: rootCertificates, description: `${rootCertificates.length} CAs built into Node (no system trust store found)` };
}

async function readCertificates(path: string, what: string, options: { missingIsEmpty?: boolean } = {}): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if (hasCode(error, 'ENOENT') && options.missingIsEmpty === true) return [];
    throw new UpstreamTrustProblem(`cannot read ${what} ${path}: ${(error as Error).message}`);
  }
  const certificates = text.match(PEM_CERTIFICATE) ?? [];
  // OpenSSL skips a block it cannot parse without a word, which would quietly trust less than the file says.
  certificates.forEach((pem, index) => {
    try {
      new X509Certificate(pem);
    } catch (error) {
      throw new UpstreamTrustProblem(`${what} ${path}: certificate ${index + 1} of ${certificates.length} is not a valid PEM certificate (${(error as Error).message})`);
    }
  });
  return certificates;
}
