import cacache from 'cacache';
import { tagKey, tagKeyPrefix, type TagLocation, type TagRecord, type TagStore } from './tag-store.js';

/** Tag records as small JSON entries in the same cacache directory as the blobs. */
export class CacacheTagStore implements TagStore {
  constructor(private readonly directory: string) {}

  async get(location: TagLocation): Promise<TagRecord | undefined> {
    try {
      const { data } = await cacache.get(this.directory, tagKey(location));
      const parsed = JSON.parse(data.toString('utf8')) as Partial<TagRecord>;
      if (typeof parsed.digest !== 'string' || typeof parsed.mediaType !== 'string' || typeof parsed.resolvedAt !== 'number') {
        return undefined;
      }
      return { digest: parsed.digest, mediaType: parsed.mediaType, resolvedAt: parsed.resolvedAt };
    } catch {
      return undefined;
    }
  }

  async set(location: TagLocation, record: TagRecord): Promise<void> {
    await cacache.put(this.directory, tagKey(location), JSON.stringify(record));
  }

  /** Walks the whole index (blobs included): only asked when upstream cannot answer a tag list. */
  async list(registry: string, repository: string): Promise<string[]> {
    const prefix = tagKeyPrefix(registry, repository);
    const tags: string[] = [];
    for await (const entry of cacache.ls.stream(this.directory) as AsyncIterable<{ key: string }>) {
      if (entry.key.startsWith(prefix)) tags.push(entry.key.slice(prefix.length));
    }
    return tags;
  }
}
