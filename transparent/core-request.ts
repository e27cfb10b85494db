import { parseRequestPath } from '../oci/parse-request-path.js';

/**
 * The URL under which the mirror core answers an intercepted request, or undefined when the
 * request is not a pull and goes to the real registry instead. Pulls are GET/HEAD of the base
 * endpoint and manifests, and GET of blobs, without a query; everything else (pushes, tag
 * lists, catalogue, token endpoints on the registry's host) is the registry's own business.
 *
 * HEAD of a blob is forwarded too: pulling clients GET blobs, while a pushing client HEADs
 * each blob to ask whether *this repository* already has it. The cache holds content by
 * digest, whatever repository it came from, so its "yes" would make the push skip an upload
 * the registry still needs (skopeo then fails with "manifest blob unknown").
 */
export function coreUrlFor(method: string | undefined, url: string | undefined, registry: string): string | undefined {
  if (method !== 'GET' && method !== 'HEAD') return undefined;
  if (url === undefined || !url.startsWith('/') || url.includes('?')) return undefined;
  let kind: string;
  try {
    kind = parseRequestPath(url).kind;
  } catch {
    return undefined;
  }
  if (kind === 'blob' && method === 'HEAD') return undefined;
  // `ns` is how containerd names the registry to a mirror: the core routes on it.
  return `${url}?ns=${encodeURIComponent(registry)}`;
}
