/**
 * How nodes talk to each other: the ordinary OCI pull API plus two markers. Headers for
 * peer-to-peer calls; the same markers as query parameters for redirected clients, which
 * cannot be told to send headers.
 */
export const PEER_HEADER = 'x-edgepier-peer';
export const OWNER_FETCH_HEADER = 'x-edgepier-owner-fetch';
export const PEER_QUERY = 'edgepier-peer';
export const OWNER_FETCH_QUERY = 'edgepier-owner-fetch';
/** When a tag answered by a peer was last confirmed upstream (epoch ms). */
export const RESOLVED_AT_HEADER = 'x-edgepier-resolved-at';

/**
 * What the request may make this node do.
 * - a local client: anything (cache, peers, upstream);
 * - a peer: only local content or a download already running here;
 * - a peer asking the digest's owner: local content, nodes holding the committed blob, or
 *   one upstream fetch — never another owner, so no request travels more than two hops
 *   and no loop can form.
 */
export interface RequestOrigin {
  readonly fromPeer: boolean;
  readonly ownerFetch?: boolean;
  /** The asking node's id, when a peer asks. */
  readonly peerId?: string;
}

export function peerPath(registry: string, repository: string, kind: 'blobs' | 'manifests', reference: string): string {
  return `/v2/${repository}/${kind}/${reference}?ns=${encodeURIComponent(registry)}`;
}
