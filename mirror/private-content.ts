/** What this node fetched with upstream credentials (cache/PrivateDigestList persists it). */
export interface PrivateContent {
  isPrivate(digest: string): boolean;
  /** Recorded before the bytes are fetched, so a join of the running download is covered too. */
  markPrivate(digest: string): Promise<void>;
}
