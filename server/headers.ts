/** Says where a response's bytes came from (cache, inflight, peer, upstream). */
export const SOURCE_HEADER = 'X-EdgePier-Source';
/** This node's id, so peers and operators can tell nodes apart. */
export const NODE_HEADER = 'X-EdgePier-Node';
/** Set when a tag was answered from the last known mapping because upstream was unreachable. */
export const STALE_HEADER = 'X-EdgePier-Stale';
