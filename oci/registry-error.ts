/**
 * The domain error every layer below server/ throws. Its `code` is a literal from the OCI
 * distribution vocabulary (plus the few EdgePier adds for a mirror's own failures), so callers
 * branch on what went wrong; what a client sees for it (HTTP status, JSON body, headers) is
 * decided in one place, server/oci-error-response.ts.
 */
export const REGISTRY_ERROR_CODES = [
  'BLOB_UNKNOWN',
  'MANIFEST_UNKNOWN',
  'NAME_UNKNOWN',
  'NAME_INVALID',
  'DIGEST_INVALID',
  'MANIFEST_INVALID',
  'SIZE_INVALID',
  'PATH_INVALID',
  'HEADER_INVALID',
  'UNAUTHORIZED',
  'DENIED',
  'UNSUPPORTED',
  'RANGE_INVALID',
  /** distribution's answer to a bad tag-list `n`. */
  'PAGINATION_NUMBER_INVALID',
  'TOOMANYREQUESTS',
  /** Transparent mode: a CONNECT target or proxy request URL that is not a usable address. */
  'PROXY_TARGET_INVALID',
  /** Transparent mode: the request already passed through this proxy once. */
  'PROXY_LOOP',
  /** The upstream registry failed or answered something we could not use. */
  'UPSTREAM_ERROR',
  /** The upstream registry did not answer in time. */
  'UPSTREAM_TIMEOUT',
  /** The mirror itself cannot serve right now (shutting down, disk trouble, overload). */
  'UNAVAILABLE',
  /** A bug or an unexpected failure inside the mirror. */
  'UNKNOWN',
] as const;

export type RegistryErrorCode = (typeof REGISTRY_ERROR_CODES)[number];

export interface RegistryErrorOptions {
  detail?: unknown;
  /** A transient failure: a retry after this many seconds may succeed. */
  retryAfterSeconds?: number;
  /** RANGE_INVALID: the size of the blob the range missed. */
  blobSize?: number;
  cause?: unknown;
}

export class RegistryError extends Error {
  readonly code: RegistryErrorCode;
  readonly detail: unknown;
  readonly retryAfterSeconds: number | undefined;
  readonly blobSize: number | undefined;

  constructor(code: RegistryErrorCode, message: string, options: RegistryErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'RegistryError';
    this.code = code;
    this.detail = options.detail;
    this.retryAfterSeconds = options.retryAfterSeconds;
    this.blobSize = options.blobSize;
  }
}

export function isRegistryError(error: unknown): error is RegistryError {
  return error instanceof RegistryError;
}
