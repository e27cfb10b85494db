import type { ContentSource } from '../mirror/mirror-results.js';

/** What a handler learned, for the one log line per request. */
export interface RequestFacts {
  source?: ContentSource;
  digest?: string;
  bytes?: number;
  stale?: boolean;
  /** The node id of the peer that sent the request, when it came from one. */
  peer?: string;
  aborted?: boolean;
  /** Where a redirect-mode answer sent the client. */
  redirect?: string;
}

export interface EdgePierState {
  facts: RequestFacts;
}
