import { rankByRendezvous } from './rendezvous.js';

/** Where one node sits in one digest's relay tree. */
export interface SwarmPlace {
  /** This node's rendezvous rank for the digest among the members it knows: 0 is the owner. */
  readonly position: number;
  /**
   * Whom to fetch the digest through, nearest first: the parent, its parent, ... ending at
   * the owner. Empty for the owner, which fetches upstream. Every entry ranks strictly above
   * this node for the digest, and rank is a function of (node id, digest) alone, so even
   * nodes whose member lists differ can never build a chain of relays that leads back to a
   * node waiting on it.
   */
  readonly ancestors: readonly string[];
}

/**
 * The relay tree of a digest: members in rendezvous order laid out as a complete tree with
 * `fanOut` children per node (the node at position p relays to positions f·p+1 … f·p+f).
 * Each node then uploads at most `fanOut` copies, however large the site, while the owner
 * still fetches upstream once. `fanOut = Infinity` is the owner-only layout (every node's
 * parent is the owner), kept so a benchmark or simulation can compare the two.
 */
export function swarmPlace(digest: string, selfId: string, memberIds: readonly string[], fanOut: number): SwarmPlace {
  if (!(fanOut === Infinity || (Number.isInteger(fanOut) && fanOut >= 1))) {
    throw new RangeError(`fanOut must be a positive integer or Infinity, got ${fanOut}`);
  }
  const candidates = [...new Set([selfId, ...memberIds])].map((id) => ({ id }));
  const ranked = rankByRendezvous(digest, candidates);
  const position = ranked.findIndex((candidate) => candidate.id === selfId);
  const ancestors: string[] = [];
  for (let at = position; at > 0; ) {
    at = Math.floor((at - 1) / fanOut);
    ancestors.push(ranked[at]!.id);
  }
  return { position, ancestors };
}

/**
 * Whether `upper` ranks strictly above `lower` for `digest`. Rank is a function of (id,
 * digest) alone, so this needs no member list: it is what a node checks before fetching for
 * a peer that asks it to, and the reason a chain of such requests can never come back.
 */
export function ranksAbove(digest: string, upper: string, lower: string): boolean {
  if (upper === lower) return false;
  return rankByRendezvous(digest, [{ id: upper }, { id: lower }])[0]?.id === upper;
}
