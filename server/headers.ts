/** Says where a response's bytes came from (cache, inflight, peer, upstream). */
export const SOURCE_HEADER = 'X-EdgePier-Source';
/** Set when a tag was answered from the last known mapping because upstream was unreachable. */
export const STALE_HEADER = 'X-EdgePier-Stale';
