import { errorCode } from '../cache/blob-store.js';

/**
 * OpenSSL's verification results as Node reports them in `error.code`, plus Node's own
 * host-name check. Any of them means the upstream's certificate was not trusted.
 */
const CERTIFICATE_REJECTIONS: ReadonlySet<string> = new Set([
  'CERT_CHAIN_TOO_LONG',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_REJECTED',
  'CERT_REVOKED',
  'CERT_SIGNATURE_FAILURE',
  'CERT_UNTRUSTED',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'ERROR_IN_CERT_NOT_AFTER_FIELD',
  'ERROR_IN_CERT_NOT_BEFORE_FIELD',
  'HOSTNAME_MISMATCH',
  'INVALID_CA',
  'INVALID_PURPOSE',
  'PATH_LENGTH_EXCEEDED',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY',
  'UNABLE_TO_DECRYPT_CERT_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
]);

/**
 * A sentence for an operator when `error` is a TLS failure with an upstream, else undefined.
 * EdgePier never retries such a failure without verification: the sentence says so and
 * says how to make the certificate trusted.
 */
export function describeTlsFailure(error: unknown, upstream: string): string | undefined {
  const code = errorCode(error) ?? '';
  const reason = error instanceof Error ? error.message.slice(0, 200) : code;
  if (CERTIFICATE_REJECTIONS.has(code)) {
    return (
      `the TLS certificate of ${upstream} failed verification (${code}: ${reason}); ` +
      'EdgePier does not connect without verification: add the issuing CA to the system trust store or --upstream-ca-file'
    );
  }
  if (code === 'EPROTO' || code.startsWith('ERR_SSL_')) {
    return `the TLS handshake with ${upstream} failed (${code}: ${reason})`;
  }
  return undefined;
}
