/** What a client asked of a tag list: at most `n` tags, all sorting after `last`. */
export interface TagPageRequest {
  readonly n?: number;
  readonly last?: string;
}

export interface TagPage {
  readonly tags: readonly string[];
  /** Set when more tags follow: what the client asks for the next page. */
  readonly next?: { readonly n: number; readonly last: string };
}

/**
 * Cuts one page out of a tag list as the OCI spec orders it (lexically, `last` excluded),
 * whatever order and paging the source used. `upstreamHasMore` says the source itself had
 * more than it sent, so there is a next page even when this one is not full of them.
 */
export function cutTagPage(tags: Iterable<string>, request: TagPageRequest, upstreamHasMore = false): TagPage {
  const last = request.last;
  const sorted = [...new Set(tags)].filter((tag) => last === undefined || tag > last).sort();
  const page = request.n === undefined ? sorted : sorted.slice(0, request.n);
  const lastTag = page.at(-1);
  const more = sorted.length > page.length || upstreamHasMore;
  if (!more || lastTag === undefined) return { tags: page };
  return { tags: page, next: { n: request.n ?? page.length, last: lastTag } };
}
