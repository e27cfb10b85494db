import { mkdir, open, readFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import writeFileAtomic from 'write-file-atomic';

/** What the LRU needs to know about one committed blob, kept across restarts. */
export interface UsageRecord {
  readonly digest: string;
  readonly size: number;
  /** Epoch milliseconds of the last serve (or of the commit). */
  readonly lastUsed: number;
  readonly mediaType?: string;
}

export const USAGE_JOURNAL_FILE = 'usage.log';
/** Rewrite the journal when it holds this many lines more than it has records. */
const COMPACT_SLACK_LINES = 20_000;

/**
 * The blob inventory with last-use times, as one append-only file in the cache directory.
 *
 * Why not the cacache index: listing it opens one bucket file per key, which took 2-3 s for
 * 10,000 blobs on our test disk, and start-up must not grow with the cache. This file is read
 * in one go instead. It is a hint, not the truth: a crash can lose the last lines, so the
 * store reconciles it with the index in the background, and a record for missing content is
 * dropped the first time `stat` finds nothing. Lines (a torn last line is ignored):
 *   A <digest> <size> <lastUsedMs> [mediaType]   added
 *   U <digest> <lastUsedMs>                      used
 *   R <digest>                                   removed
 */
export class UsageJournal {
  private readonly records = new Map<string, UsageRecord>();
  private handle: FileHandle | undefined;
  private pending: string[] = [];
  private writing: Promise<void> = Promise.resolve();
  private lines = 0;
  private failed = false;

  constructor(private readonly directory: string) {}

  get path(): string {
    return join(this.directory, USAGE_JOURNAL_FILE);
  }

  /** Reads the journal without writing to it (the inspection commands). */
  static async read(directory: string): Promise<Map<string, UsageRecord>> {
    const text = await readFile(join(directory, USAGE_JOURNAL_FILE), 'utf8').catch(() => '');
    const records = new Map<string, UsageRecord>();
    for (const line of text.split('\n')) applyLine(records, line);
    return records;
  }

  /** Reads the journal, rewrites it compactly (atomically) and opens it for appending. */
  async load(): Promise<Map<string, UsageRecord>> {
    for (const [digest, record] of await UsageJournal.read(this.directory)) this.records.set(digest, record);
    await mkdir(this.directory, { recursive: true });
    // A disk too full to rewrite the journal must not stop the node: appends are tried later.
    await this.compact().catch(() => undefined);
    return new Map(this.records);
  }

  added(record: UsageRecord): void {
    this.records.set(record.digest, record);
    this.append(`A ${record.digest} ${record.size} ${Math.round(record.lastUsed)}${record.mediaType ? ` ${record.mediaType}` : ''}`);
  }

  used(digest: string, at: number): void {
    const record = this.records.get(digest);
    if (!record) return;
    this.records.set(digest, { ...record, lastUsed: at });
    this.append(`U ${digest} ${Math.round(at)}`);
  }

  removed(digest: string): void {
    if (!this.records.delete(digest)) return;
    this.append(`R ${digest}`);
  }

  /** Resolves when every line appended so far is written. */
  async flush(): Promise<void> {
    this.schedule();
    await this.writing;
  }

  async close(): Promise<void> {
    await this.flush();
    await this.handle?.close();
    this.handle = undefined;
  }

  private append(line: string): void {
    this.pending.push(line);
    if (this.pending.length === 1) queueMicrotask(() => this.schedule());
  }

  /** One write at a time, batching whatever lines queued up meanwhile. */
  private schedule(): void {
    if (this.pending.length === 0) return;
    this.writing = this.writing.then(async () => {
      const batch = this.pending;
      this.pending = [];
      if (batch.length === 0 || this.failed) return;
      try {
        if (this.lines > this.records.size + COMPACT_SLACK_LINES) {
          await this.compact();
          return;
        }
        this.handle ??= await open(this.path, 'a');
        await this.handle.write(`${batch.join('\n')}\n`);
        this.lines += batch.length;
      } catch {
        // A full disk must not break serving: the journal is a hint, reconciled at start.
        this.failed = true;
      }
    });
  }

  /** Writes the current records to a temporary file, syncs it and renames it over the journal. */
  private async compact(): Promise<void> {
    await this.handle?.close();
    this.handle = undefined;
    const text = [...this.records.values()]
      .map((record) => `A ${record.digest} ${record.size} ${Math.round(record.lastUsed)}${record.mediaType ? ` ${record.mediaType}` : ''}`)
      .join('\n');
    await writeFileAtomic(this.path, text.length > 0 ? `${text}\n` : '');
    this.lines = this.records.size;
  }
}

const DIGEST = /^[a-z0-9]+:[a-f0-9]{32,128}$/;

function applyLine(records: Map<string, UsageRecord>, line: string): void {
  const [kind, digest = '', ...rest] = line.split(' ');
  if (!DIGEST.test(digest)) return;
  if (kind === 'A') {
    const [sizeText = '', usedText = '', mediaType] = rest;
    const size = Number(sizeText);
    const lastUsed = Number(usedText);
    if (!Number.isSafeInteger(size) || size < 0 || !Number.isFinite(lastUsed)) return;
    records.set(digest, { digest, size, lastUsed, ...(mediaType ? { mediaType } : {}) });
  } else if (kind === 'U') {
    const record = records.get(digest);
    const lastUsed = Number(rest[0]);
    if (record && Number.isFinite(lastUsed)) records.set(digest, { ...record, lastUsed });
  } else if (kind === 'R') {
    records.delete(digest);
  }
}
