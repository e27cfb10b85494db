/**
 * Who asked, and so what the request may make this node do. This is the core's
 * loop-prevention policy:
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
  /**
   * Only content fetched anonymously may be served: the asker is not a proven member (an
   * open site). Content fetched with credentials is then answered as unknown.
   */
  readonly publicOnly?: boolean;
}
