import { tagKey, tagKeyPrefix, type TagLocation, type TagRecord, type TagStore } from './tag-store.js';

export class MemoryTagStore implements TagStore {
  private readonly records = new Map<string, TagRecord>();

  get(location: TagLocation): Promise<TagRecord | undefined> {
    return Promise.resolve(this.records.get(tagKey(location)));
  }

  set(location: TagLocation, record: TagRecord): Promise<void> {
    this.records.set(tagKey(location), record);
    return Promise.resolve();
  }

  list(registry: string, repository: string): Promise<string[]> {
    const prefix = tagKeyPrefix(registry, repository);
    return Promise.resolve([...this.records.keys()].filter((key) => key.startsWith(prefix)).map((key) => key.slice(prefix.length)));
  }
}
