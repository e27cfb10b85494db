import cacache from 'cacache';
import { referrersKey, type ReferrersLocation, type ReferrersRecord, type ReferrersStore } from './referrers-store.js';

/** Referrers lists as small JSON entries in the cacache directory, beside the tag records. */
export class CacacheReferrersStore implements ReferrersStore {
  constructor(private readonly directory: string) {}

  async get(location: ReferrersLocation): Promise<ReferrersRecord | undefined> {
    let data: Buffer;
    try {
      ({ data } = await cacache.get(this.directory, referrersKey(location)));
    } catch {
      return undefined;
    }
    try {
      const parsed = JSON.parse(data.toString('utf8')) as Partial<ReferrersRecord>;
      if (!Array.isArray(parsed.manifests) || typeof parsed.resolvedAt !== 'number') return undefined;
      return { manifests: parsed.manifests as unknown[], resolvedAt: parsed.resolvedAt };
    } catch {
      // cacache checked the entry's integrity, so this is an old or foreign format: a miss.
      return undefined;
    }
  }

  async set(location: ReferrersLocation, record: ReferrersRecord): Promise<void> {
    await cacache.put(this.directory, referrersKey(location), JSON.stringify(record));
  }
}
