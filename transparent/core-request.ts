import { parseRequestPath } from '../oci/parse-request-path.js';

/**
 * The URL under which the mirror core answers an intercepted request, or undefined when the
 * request is not a pull and goes to the real registry instead. Pulls are GET/HEAD of the base
 * endpoint, a manifest or a blob, without a query; everything else (pushes, tag lists,
 * catalogue, token endpoints on the registry's host) is the registry's own business.
 */
export function coreUrlFor(method: string | undefined, url: string | undefined, registry: string): string | undefined {
  if (method !== 'GET' && method !== 'HEAD') return undefined;
  if (url === undefined || !url.startsWith('/') || url.includes('?')) return undefined;
  try {
    parseRequestPath(url);
  } catch {
    return undefined;
  }
  // `ns` is how containerd names the registry to a mirror: the core routes on it.
  return `${url}?ns=${encodeURIComponent(registry)}`;
}
