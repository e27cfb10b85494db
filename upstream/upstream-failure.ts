import { RegistryError, type RegistryErrorCode } from '../oci/registry-error.js';
import { describeTlsFailure } from './tls-failure.js';
import { errorCode } from '../cache/blob-store.js';

/**
 * Which upstream failures are worth one more try, and why. Only failures that happen before
 * any body byte arrived are retried: a body that broke half-way is resumed by the caller
 * with a Range request, never silently restarted here.
 */
export const RETRIED_NETWORK_ERRORS: ReadonlySet<string> = new Set([
  'ECONNRESET', // the connection was cut before the response: a proxy or load balancer hiccup
  'EPIPE', // same, seen while still sending the request
  'ECONNREFUSED', // a registry restarting behind its load balancer refuses for a moment
  'EAI_AGAIN', // a temporary DNS failure
]);

export const RETRIED_STATUSES: ReadonlySet<number> = new Set([
  502, // a gateway in front of the registry failed: usually transient
  503, // the registry is overloaded or restarting
  504, // a gateway timed out: the next try may land on a healthy backend
]);
// Not retried: 401/403 (credentials will not change), 404 (the content is not there),
// 429 (retrying makes rate limiting worse; the client sees TOOMANYREQUESTS and backs off),
// timeouts (the caller's deadline is already spent), and TLS errors (a retry cannot fix them).

/** What an upstream request was for: it decides which "unknown" a 404 becomes. */
export type UpstreamResource = 'manifest' | 'blob' | 'tags' | 'referrers';

const NOT_FOUND_CODE: Readonly<Record<UpstreamResource, RegistryErrorCode>> = {
  manifest: 'MANIFEST_UNKNOWN',
  blob: 'BLOB_UNKNOWN',
  // The OCI spec: a tag list of a repository the registry does not know is NAME_UNKNOWN.
  tags: 'NAME_UNKNOWN',
  referrers: 'MANIFEST_UNKNOWN',
};

/** Maps an upstream HTTP status to what the mirror's client should see. */
export function upstreamStatusError(status: number, what: UpstreamResource, registry: string): RegistryError {
  const code: RegistryErrorCode =
    status === 404
      ? NOT_FOUND_CODE[what]
      : status === 401 || status === 403
        ? 'DENIED'
        : status === 429
          ? 'TOOMANYREQUESTS'
          : 'UPSTREAM_ERROR';
  const message =
    code === 'DENIED'
      ? `upstream ${registry} refused access (HTTP ${status}); check the credentials configured for it`
      : code === 'UPSTREAM_ERROR'
        ? `upstream ${registry} answered HTTP ${status}`
        : code === 'TOOMANYREQUESTS'
          ? `upstream ${registry} is rate limiting (HTTP 429); retry later`
          : `${what === 'tags' ? 'repository' : what} not found at upstream ${registry}`;
  return new RegistryError(code, message, { detail: { upstream: registry, status } });
}

/** Maps a network-level failure (no HTTP answer) to 502 or 504. */
export function upstreamNetworkError(error: unknown, registry: string): RegistryError {
  if (error instanceof RegistryError) return error;
  const code = errorCode(error) ?? 'UNKNOWN';
  const tlsFailure = describeTlsFailure(error, `upstream ${registry}`);
  if (tlsFailure !== undefined) {
    return new RegistryError('UPSTREAM_ERROR', tlsFailure, { detail: { upstream: registry, reason: code }, cause: error });
  }
  const timedOut =
    code === 'ETIMEDOUT' || code === 'ABORT_ERR' || code === 'ERR_ABORTED' || (error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError'));
  return new RegistryError(
    timedOut ? 'UPSTREAM_TIMEOUT' : 'UPSTREAM_ERROR',
    timedOut ? `upstream ${registry} did not answer in time` : `upstream ${registry} is unreachable (${code})`,
    { detail: { upstream: registry, reason: code }, cause: error },
  );
}
