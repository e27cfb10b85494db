/** Where a referrers list belongs: the subject manifest's digest in one repository of one registry. */
export interface ReferrersLocation {
  readonly registry: string;
  readonly repository: string;
  readonly subject: string;
}

/** The last full (unfiltered) referrers list seen for a subject, kept for a site whose WAN is down. */
export interface ReferrersRecord {
  /** The descriptors of the referrers index, as upstream listed them. */
  readonly manifests: readonly unknown[];
  /** Epoch milliseconds of the upstream answer. */
  readonly resolvedAt: number;
}

export interface ReferrersStore {
  get(location: ReferrersLocation): Promise<ReferrersRecord | undefined>;
  set(location: ReferrersLocation, record: ReferrersRecord): Promise<void>;
}

export function referrersKey(location: ReferrersLocation): string {
  return `referrers:${location.registry}/${location.repository}@${location.subject}`;
}
