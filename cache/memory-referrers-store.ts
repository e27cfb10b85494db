import { referrersKey, type ReferrersLocation, type ReferrersRecord, type ReferrersStore } from './referrers-store.js';

export class MemoryReferrersStore implements ReferrersStore {
  private readonly records = new Map<string, ReferrersRecord>();

  get(location: ReferrersLocation): Promise<ReferrersRecord | undefined> {
    return Promise.resolve(this.records.get(referrersKey(location)));
  }

  set(location: ReferrersLocation, record: ReferrersRecord): Promise<void> {
    this.records.set(referrersKey(location), record);
    return Promise.resolve();
  }
}
