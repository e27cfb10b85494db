import type { StoredBlob } from './blob-store.js';
import type { UsageJournal, UsageRecord } from './usage-journal.js';

/** A serve is written to the journal at most this often per blob (the LRU needs minutes, not ms). */
const USE_PERSIST_MS = 60_000;

export interface InventoryEntry {
  size: number;
  lastUsed: number;
  mediaType: string | undefined;
  /** Last time the journal was told of a use. */
  persistedUse: number;
  /** Last `stat` hit: see OPEN_GRACE_MS. */
  statAt: number;
  /** When this process learnt of the entry (reconciliation keeps newer ones). */
  knownSince: number;
}

/**
 * Every committed blob the budgeted store knows of: size, media type and last use, and the
 * bytes they add up to. What changes is told to the journal (when there is one), so the
 * inventory survives a restart without a walk of the index.
 */
export class BlobInventory {
  private readonly entries = new Map<string, InventoryEntry>();
  private bytes = 0;

  constructor(
    private readonly journal: UsageJournal | undefined,
    private readonly now: () => number,
  ) {}

  /** Bytes of committed blobs (spools not included). */
  get committedBytes(): number {
    return this.bytes;
  }

  get count(): number {
    return this.entries.size;
  }

  get(digest: string): InventoryEntry | undefined {
    return this.entries.get(digest);
  }

  has(digest: string): boolean {
    return this.entries.has(digest);
  }

  digests(): string[] {
    return [...this.entries.keys()];
  }

  /** A copy: safe to iterate while blobs come and go. */
  snapshot(): Array<[string, InventoryEntry]> {
    return [...this.entries];
  }

  /** Records an entry without telling the journal (it is where the record came from, or is told by the caller). */
  set(record: UsageRecord, knownSince: number): InventoryEntry {
    const previous = this.entries.get(record.digest);
    if (previous) this.bytes -= previous.size;
    const entry: InventoryEntry = {
      size: record.size,
      lastUsed: record.lastUsed,
      mediaType: record.mediaType,
      persistedUse: record.lastUsed,
      statAt: previous?.statAt ?? 0,
      knownSince,
    };
    this.entries.set(record.digest, entry);
    this.bytes += entry.size;
    return entry;
  }

  /** Records an entry and tells the journal. */
  remember(record: UsageRecord, knownSince: number): InventoryEntry {
    this.journal?.added(record);
    return this.set(record, knownSince);
  }

  /** Records a blob as stored now, and tells the journal. */
  add(stored: StoredBlob): InventoryEntry {
    const now = this.now();
    return this.remember({ digest: stored.digest, size: stored.size, lastUsed: now, ...(stored.mediaType ? { mediaType: stored.mediaType } : {}) }, now);
  }

  /** A serve: the LRU clock moves at once, the journal hears of it at most once per USE_PERSIST_MS. */
  markUsed(digest: string, entry: InventoryEntry): void {
    const now = this.now();
    entry.lastUsed = now;
    if (now - entry.persistedUse >= USE_PERSIST_MS) {
      entry.persistedUse = now;
      this.journal?.used(digest, now);
    }
  }

  /** Drops the entry and tells the journal; returns what was dropped. */
  delete(digest: string): InventoryEntry | undefined {
    const entry = this.entries.get(digest);
    if (!entry) return undefined;
    this.entries.delete(digest);
    this.bytes -= entry.size;
    this.journal?.removed(digest);
    return entry;
  }
}
