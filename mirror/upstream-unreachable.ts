import { RegistryError } from '../oci/registry-error.js';

/**
 * Failures where upstream said nothing about the thing asked (it could not be reached, failed,
 * or is rate limiting), so the last answer this node knows still stands.
 */
export function isUpstreamUnreachable(error: unknown): boolean {
  return error instanceof RegistryError && (error.code === 'UPSTREAM_ERROR' || error.code === 'UPSTREAM_TIMEOUT' || error.code === 'TOOMANYREQUESTS');
}
