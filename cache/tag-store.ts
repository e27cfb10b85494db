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
}

export function tagKey(location: TagLocation): string {
  return `tag:${location.registry}/${location.repository}:${location.tag}`;
}
