/**
 * How nodes talk to each other: the ordinary OCI pull API plus two markers. Headers for
 * peer-to-peer calls; the same markers as query parameters for redirected clients, which
 * cannot be told to send headers.
 */
export const OWNER_FETCH_HEADER = 'x-edgepier-owner-fetch';
export const PEER_QUERY = 'edgepier-peer';
export const OWNER_FETCH_QUERY = 'edgepier-owner-fetch';
/** When a tag answered by a peer was last confirmed upstream (epoch ms). */
export const RESOLVED_AT_HEADER = 'x-edgepier-resolved-at';

export function peerPath(registry: string, repository: string, kind: 'blobs' | 'manifests', reference: string): string {
  return `/v2/${repository}/${kind}/${reference}?ns=${encodeURIComponent(registry)}`;
}
