/**
 * Who asked, and so what the request may make this node do. This is the core's
 * loop-prevention policy:
 * - a local client: anything (cache, peers, upstream);
 * - a peer: only local content or a download already running here;
 * - a peer that asks this node to fetch for it (`ownerFetch`), and ranks below this node for
 *   the digest: this node may fetch through its own ancestors in the digest's relay tree
 *   (every one ranked above it) or holders of the committed blob; only the digest's owner
 *   goes upstream. Each hop climbs the ranking, so no request can come back to a node that
 *   waits on it.
 */
export interface RequestOrigin {
  readonly fromPeer: boolean;
  /**
   * The asker lets this node fetch the blob for it when it lacks it (the asker named this
   * node as one of its ancestors for the digest; the wire name is from when only the owner
   * fetched). Granted only if the asker ranks below this node.
   */
  readonly ownerFetch?: boolean;
  /** The asking node's id, when a peer asks. */
  readonly peerId?: string;
  /**
   * Only content fetched anonymously may be served: the asker is not a proven member (an
   * open site). Content fetched with credentials is then answered as unknown.
   */
  readonly publicOnly?: boolean;
}
