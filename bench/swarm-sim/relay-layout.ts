// Who each node fetches a layer from, as the node decides it: the real `swarmPlace`, asked once
// per node with the rest of the site as its member list.
import { swarmPlace } from '../../peer/swarm-tree.js';

/** How a site fetches a layer: straight from the cloud (no EdgePier), or through EdgePier. */
export type Layout = { readonly kind: 'direct' } | { readonly kind: 'edgepier'; readonly fanOut: number };

/** Upstream, in a parent list. */
export const UPSTREAM = -1;

/**
 * The parent of every node (an index into `memberIds`, or UPSTREAM) for one digest. With
 * EdgePier that is the first of the node's `swarmPlace` ancestors; the owner goes upstream.
 */
export function relayParents(digest: string, memberIds: readonly string[], layout: Layout): number[] {
  if (layout.kind === 'direct') return memberIds.map(() => UPSTREAM);
  const indexOf = new Map(memberIds.map((id, index) => [id, index]));
  return memberIds.map((id) => {
    const parent = swarmPlace(digest, id, memberIds.filter((other) => other !== id), layout.fanOut).ancestors[0];
    return parent === undefined ? UPSTREAM : indexOf.get(parent)!;
  });
}

/** A layout's name in a table: `direct`, `owner-only` (today), `swarm f=2`. */
export function layoutName(layout: Layout): string {
  if (layout.kind === 'direct') return 'direct';
  return layout.fanOut === Infinity ? 'owner-only' : `swarm f=${layout.fanOut}`;
}
