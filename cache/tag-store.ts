/** The last digest a tag was seen to point at, kept so a site with its WAN down can still start. */
export interface TagRecord {
  readonly digest: string;
  readonly mediaType: string;
  /** Epoch milliseconds of the last time upstream confirmed this mapping. */
  readonly resolvedAt: number;
}

export interface TagLocation {
  /** The registry host the tag belongs to (`docker.io`, `ghcr.io`). */
  readonly registry: string;
  readonly repository: string;
  readonly tag: string;
}

export interface TagStore {
  get(location: TagLocation): Promise<TagRecord | undefined>;
  set(location: TagLocation, record: TagRecord): Promise<void>;
  /** Every tag with a record in one repository (what this node can resolve offline), unsorted. */
  list(registry: string, repository: string): Promise<string[]>;
}

export function tagKey(location: TagLocation): string {
  return `${tagKeyPrefix(location.registry, location.repository)}${location.tag}`;
}

/** Tags hold neither `/` nor `:`, so everything after this prefix is one tag of this repository. */
export function tagKeyPrefix(registry: string, repository: string): string {
  return `tag:${registry}/${repository}:`;
}
