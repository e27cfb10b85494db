/**
 * OCI distribution error codes, plus the few EdgePier adds for a mirror's own failures
 * (and PAGINATION_NUMBER_INVALID, distribution's answer to a bad tag-list `n`).
 * Each code maps to exactly one HTTP status here, so the server maps errors in one place.
 */
export const OCI_ERROR_STATUS = {
  BLOB_UNKNOWN: 404,
  MANIFEST_UNKNOWN: 404,
  NAME_UNKNOWN: 404,
  NAME_INVALID: 400,
  DIGEST_INVALID: 400,
  MANIFEST_INVALID: 400,
  SIZE_INVALID: 400,
  PATH_INVALID: 400,
  HEADER_INVALID: 431,
  UNAUTHORIZED: 401,
  DENIED: 403,
  UNSUPPORTED: 405,
  RANGE_INVALID: 416,
  PAGINATION_NUMBER_INVALID: 400,
  TOOMANYREQUESTS: 429,
  /** Transparent mode: a CONNECT target or proxy request URL that is not a usable address. */
  PROXY_TARGET_INVALID: 400,
  /** Transparent mode: the request already passed through this proxy once. */
  PROXY_LOOP: 508,
  /** The upstream registry failed or answered something we could not use. */
  UPSTREAM_ERROR: 502,
  /** The upstream registry did not answer in time. */
  UPSTREAM_TIMEOUT: 504,
  /** The mirror itself cannot serve right now (shutting down, disk trouble). */
  UNAVAILABLE: 503,
  /** A bug or an unexpected failure inside the mirror. */
  UNKNOWN: 500,
} as const;

export type OciErrorCode = keyof typeof OCI_ERROR_STATUS;

/** A failure that the server reports to the client as `{"errors":[{code,message,detail}]}`. */
export class OciError extends Error {
  readonly code: OciErrorCode;
  readonly detail: unknown;
  /** Headers the response must carry (WWW-Authenticate, Content-Range, Retry-After...). */
  readonly headers: Readonly<Record<string, string>>;

  constructor(
    code: OciErrorCode,
    message: string,
    options: { detail?: unknown; headers?: Record<string, string>; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'OciError';
    this.code = code;
    this.detail = options.detail;
    this.headers = options.headers ?? {};
  }

  get status(): number {
    return OCI_ERROR_STATUS[this.code];
  }

  toJSON(): { errors: { code: string; message: string; detail?: unknown }[] } {
    const entry: { code: string; message: string; detail?: unknown } = {
      code: this.code,
      message: this.message,
    };
    if (this.detail !== undefined) entry.detail = this.detail;
    return { errors: [entry] };
  }
}

export function isOciError(error: unknown): error is OciError {
  return error instanceof OciError;
}
