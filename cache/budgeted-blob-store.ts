import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import type { ByteRange } from '../oci/byte-range.js';
import { parseDigest, type Digest } from '../oci/digest.js';
import { OciError } from '../oci/oci-error.js';
import { CodedError, type BlobStore, type BlobWriter, type StoredBlob } from './blob-store.js';
import type { CacheBudget } from './cache-budget.js';
import { DigestVerifier } from './digest-verifier.js';
import { isDiskFull } from './disk-full.js';
import { HoldBackVerifier } from './hold-back-verifier.js';
import type { PinnedDigests } from './pins.js';
import type { UsageJournal, UsageRecord } from './usage-journal.js';

/** Why a blob left the store; every reason means "stop advertising it". */
export type RemovalReason = 'evicted' | 'corrupt' | 'missing' | 'removed';

/**
 * A blob looked up by `stat` is about to be opened: it is not evicted for this long, so the
 * mirror's stat-then-open never finds the file gone in between.
 */
const OPEN_GRACE_MS = 2_000;
/** A serve is written to the journal at most this often per blob (the LRU needs minutes, not ms). */
const USE_PERSIST_MS = 60_000;
/** Blobs up to this size are hash-checked inside `stat` on first use, so a corrupt one reads as a miss. */
const VERIFY_IN_STAT_BYTES = 4 * 1024 * 1024;
/** While a spool grows, re-check the budget each time this many bytes were written. */
const SPOOL_CHECK_BYTES = 8 * 1024 * 1024;

export interface BudgetedBlobStoreOptions {
  readonly inner: BlobStore;
  readonly logger: Logger;
  /** Absent: no limit (the store still tracks use and verifies on first serve). */
  readonly budget?: CacheBudget;
  readonly pins?: PinnedDigests;
  /** Persists the inventory and last-use times; absent: kept in memory only. */
  readonly journal?: UsageJournal;
  /** Told when a blob leaves (so the LAN stops being told it is here). */
  readonly onRemoved?: (digest: string, reason: RemovalReason, bytes: number) => void;
  /** Told when the background reconciliation finds a blob the journal did not know. */
  readonly onAdded?: (digest: string) => void;
  /** Hash-check each blob the first time it is served after start (default true). */
  readonly verifyOnFirstServe?: boolean;
  readonly now?: () => number;
}

interface Entry {
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

/** What one eviction pass did (logged, and quoted by the benchmarks). */
export interface EvictionReport {
  readonly evicted: number;
  readonly freedBytes: number;
  readonly usedBytes: number;
  readonly candidates: number;
  readonly ms: number;
}

/**
 * A `BlobStore` decorator that keeps the cache inside its budget. It knows every committed
 * blob's size and last use, which blobs are being read or written right now, and which are
 * pinned; when the budget is passed it removes least-recently-used blobs down to the
 * low-water mark. Eviction runs beside serving, never in front of it.
 *
 * It also refuses to serve corrupt content: a blob is hash-checked the first time it is
 * served after start (while streaming, last chunk held back until the hash matches), and
 * a blob that fails is removed so the next request fetches it again.
 */
export class BudgetedBlobStore implements BlobStore {
  private readonly entries = new Map<string, Entry>();
  private readonly inUse = new Map<string, number>();
  private readonly removing = new Set<string>();
  private readonly verified = new Set<string>();
  /** Bytes in spools not yet committed: they take disk space too. */
  private spoolBytes = 0;
  private committedBytes = 0;
  private loading: Promise<void> | undefined;
  private reconciling: Promise<void> | undefined;
  private evicting: Promise<void> | undefined;
  private evictAgain = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private lastReport: EvictionReport | undefined;
  private readonly now: () => number;

  constructor(private readonly options: BudgetedBlobStoreOptions) {
    this.now = options.now ?? Date.now;
  }

  /** Bytes the cache holds (committed blobs plus growing spools). */
  get usedBytes(): number {
    return this.committedBytes + this.spoolBytes;
  }

  get blobCount(): number {
    return this.entries.size;
  }

  get lastEviction(): EvictionReport | undefined {
    return this.lastReport;
  }

  /** Reads the inventory (the journal, not the index: see UsageJournal). Idempotent. */
  load(): Promise<void> {
    this.loading ??= this.loadEntries();
    return this.loading;
  }

  async stat(digest: Digest): Promise<StoredBlob | undefined> {
    await this.load();
    if (this.removing.has(digest.value)) return undefined;
    const stored = await this.options.inner.stat(digest);
    if (!stored) {
      if (this.entries.has(digest.value) && !this.removing.has(digest.value)) this.forget(digest.value, 'missing');
      return undefined;
    }
    const entry = this.track(stored);
    entry.statAt = this.now();
    this.markUsed(digest.value, entry);
    if (stored.size <= VERIFY_IN_STAT_BYTES && this.needsVerify(digest.value)) {
      // Small blobs (manifests, configs) are checked whole before the mirror decides it has
      // them: a corrupt one becomes a miss and is fetched again, the client never notices.
      if (!(await this.verifyWhole(digest))) return undefined;
    }
    return stored;
  }

  async createReadStream(digest: Digest, range?: ByteRange): Promise<Readable> {
    await this.load();
    if (this.removing.has(digest.value)) throw new CodedError('ENOENT', `${digest.value} is being removed`);
    this.acquire(digest.value);
    let stream: Readable;
    try {
      const entry = this.entries.get(digest.value);
      if (entry) this.markUsed(digest.value, entry);
      const whole = !range || (range.start === 0 && entry !== undefined && range.end >= entry.size - 1);
      if (this.needsVerify(digest.value) && !whole) {
        // A part cannot be checked on its own: check the whole file first (rare: resumes).
        if (!(await this.verifyWhole(digest))) {
          throw new OciError('UNAVAILABLE', `cached ${digest.value} was corrupt and is removed; retry to fetch it again`, { headers: { 'Retry-After': '0' } });
        }
      }
      stream = await this.options.inner.createReadStream(digest, range);
      if (this.needsVerify(digest.value) && whole) stream = this.verifying(digest, stream);
    } catch (error) {
      this.release(digest.value);
      throw error;
    }
    let released = false;
    stream.once('close', () => {
      if (released) return;
      released = true;
      this.release(digest.value);
    });
    return stream;
  }

  async createWriter(digest: Digest, options: { mediaType?: string } = {}): Promise<BlobWriter> {
    await this.load();
    this.acquire(digest.value);
    let writer: BlobWriter;
    try {
      writer = await this.options.inner.createWriter(digest, options);
    } catch (error) {
      if (!isDiskFull(error)) {
        this.release(digest.value);
        throw error;
      }
      // The spool could not even be created: a writer that fails its first write lets the
      // download go on without caching (mirror/blob-download.ts pass-through).
      writer = new DiskFullWriter(digest, error);
    }
    return new TrackedWriter(writer, {
      written: (bytes) => this.spoolGrew(bytes),
      committed: (stored, spooled) => this.committed(stored, spooled),
      diskFull: (error) => this.options.logger.warn({ digest: digest.value, err: String(error) }, 'disk full: caching is off for this download'),
      released: (spooled) => {
        this.spoolBytes -= spooled;
        this.release(digest.value);
      },
    });
  }

  async remove(digest: Digest): Promise<void> {
    await this.load();
    await this.options.inner.remove(digest);
    this.forget(digest.value, 'removed');
  }

  async *list(): AsyncIterable<StoredBlob> {
    await this.load();
    for (const [digest, entry] of [...this.entries]) {
      yield { digest, size: entry.size, ...(entry.mediaType ? { mediaType: entry.mediaType } : {}) };
    }
    // The first full listing is the node's start-up advertisement; once it is done (and
    // discovery can hear about more), the journal is checked against the index.
    this.reconcile().catch((error: unknown) => this.options.logger.warn({ err: String(error) }, 'cache reconciliation failed'));
  }

  /**
   * Brings the inventory in line with the inner store's own listing (slow on a big cache,
   * so it runs in the background): adds what the journal missed (a crash after commit),
   * drops what is gone (removed by hand or by `edgepier cache verify`), fixes sizes.
   */
  reconcile(): Promise<void> {
    this.reconciling ??= this.reconcileEntries();
    return this.reconciling;
  }

  /** Runs an eviction pass now (if over budget) and resolves when no pass is running. */
  async evictNow(): Promise<EvictionReport | undefined> {
    await this.load();
    this.scheduleEviction();
    await this.idle();
    return this.lastReport;
  }

  /** Resolves when no eviction pass is running or queued. */
  async idle(): Promise<void> {
    for (let round = 0; round < 100 && this.evicting; round += 1) await this.evicting;
  }

  /** Stops the retry timer, writes out the journal and closes it. */
  async close(): Promise<void> {
    clearTimeout(this.retryTimer);
    await this.idle();
    await this.options.journal?.close();
  }

  private async loadEntries(): Promise<void> {
    const known = this.now();
    if (this.options.journal) {
      for (const record of (await this.options.journal.load()).values()) this.setEntry(record, known);
      return;
    }
    // No journal (memory stores, tests): the inner listing is the inventory.
    for await (const blob of this.options.inner.list()) {
      this.setEntry({ digest: blob.digest, size: blob.size, lastUsed: known, ...(blob.mediaType ? { mediaType: blob.mediaType } : {}) }, known);
    }
    this.reconciling = Promise.resolve();
  }

  private setEntry(record: UsageRecord, knownSince: number): Entry {
    const previous = this.entries.get(record.digest);
    if (previous) this.committedBytes -= previous.size;
    const entry: Entry = {
      size: record.size,
      lastUsed: record.lastUsed,
      mediaType: record.mediaType,
      persistedUse: record.lastUsed,
      statAt: previous?.statAt ?? 0,
      knownSince,
    };
    this.entries.set(record.digest, entry);
    this.committedBytes += entry.size;
    return entry;
  }

  /** The entry for content the inner store just confirmed, created if the journal missed it. */
  private track(stored: StoredBlob): Entry {
    const entry = this.entries.get(stored.digest);
    if (entry && entry.size === stored.size) return entry;
    const record = { digest: stored.digest, size: stored.size, lastUsed: this.now(), ...(stored.mediaType ? { mediaType: stored.mediaType } : {}) };
    this.options.journal?.added(record);
    this.scheduleEviction();
    return this.setEntry(record, this.now());
  }

  private async reconcileEntries(): Promise<void> {
    const started = this.now();
    const seen = new Set<string>();
    let added = 0;
    for await (const blob of this.options.inner.list()) {
      seen.add(blob.digest);
      const entry = this.entries.get(blob.digest);
      if (entry && entry.size === blob.size) continue;
      const record = { digest: blob.digest, size: blob.size, lastUsed: entry?.lastUsed ?? started, ...(blob.mediaType ? { mediaType: blob.mediaType } : {}) };
      this.setEntry(record, entry?.knownSince ?? started);
      this.options.journal?.added(record);
      if (!entry) {
        added += 1;
        this.options.onAdded?.(blob.digest);
      }
    }
    let dropped = 0;
    for (const [digest, entry] of [...this.entries]) {
      // Entries learnt after the listing began may simply be newer than it.
      if (seen.has(digest) || entry.knownSince >= started || this.isInUse(digest)) continue;
      this.forget(digest, 'missing');
      dropped += 1;
    }
    this.options.logger.info({ blobs: this.entries.size, added, dropped, bytes: this.committedBytes, ms: this.now() - started }, 'cache inventory reconciled');
    this.scheduleEviction();
  }

  private markUsed(digest: string, entry: Entry): void {
    const now = this.now();
    entry.lastUsed = now;
    if (now - entry.persistedUse >= USE_PERSIST_MS) {
      entry.persistedUse = now;
      this.options.journal?.used(digest, now);
    }
  }

  private needsVerify(digest: string): boolean {
    return this.options.verifyOnFirstServe !== false && !this.verified.has(digest);
  }

  /** Reads and hashes the whole blob; removes it when it does not match. */
  private async verifyWhole(digest: Digest): Promise<boolean> {
    const verifier = new DigestVerifier(digest);
    try {
      for await (const chunk of await this.options.inner.createReadStream(digest)) verifier.update(chunk as Buffer);
      verifier.verify();
    } catch (error) {
      if ((error as { code?: unknown }).code === 'ENOENT') return false;
      await this.dropCorrupt(digest, error);
      return false;
    }
    this.verified.add(digest.value);
    return true;
  }

  private verifying(digest: Digest, stream: Readable): Readable {
    const verifier = new HoldBackVerifier(digest, (ok) => {
      if (!ok) return this.dropCorrupt(digest, new Error('hash mismatch while serving'));
      this.verified.add(digest.value);
      return undefined;
    });
    stream.once('error', (error) => verifier.destroy(error));
    verifier.once('close', () => stream.destroy());
    return stream.pipe(verifier);
  }

  private async dropCorrupt(digest: Digest, error: unknown): Promise<void> {
    if (this.removing.has(digest.value)) return;
    this.options.logger.error({ digest: digest.value, err: String(error) }, 'cached blob is corrupt: removed, the next request fetches it again');
    this.removing.add(digest.value);
    try {
      await this.options.inner.remove(digest);
    } catch (removeError) {
      this.options.logger.error({ digest: digest.value, err: String(removeError) }, 'could not remove a corrupt blob');
    } finally {
      this.removing.delete(digest.value);
    }
    this.forget(digest.value, 'corrupt');
  }

  private forget(digest: string, reason: RemovalReason): void {
    const entry = this.entries.get(digest);
    this.verified.delete(digest);
    if (!entry) return;
    this.entries.delete(digest);
    this.committedBytes -= entry.size;
    this.options.journal?.removed(digest);
    this.options.onRemoved?.(digest, reason, entry.size);
  }

  private acquire(digest: string): void {
    this.inUse.set(digest, (this.inUse.get(digest) ?? 0) + 1);
  }

  private release(digest: string): void {
    const count = (this.inUse.get(digest) ?? 0) - 1;
    if (count > 0) this.inUse.set(digest, count);
    else this.inUse.delete(digest);
  }

  private isInUse(digest: string): boolean {
    return (this.inUse.get(digest) ?? 0) > 0;
  }

  private spoolGrew(bytes: number): void {
    const before = this.spoolBytes;
    this.spoolBytes += bytes;
    if (Math.floor(before / SPOOL_CHECK_BYTES) !== Math.floor(this.spoolBytes / SPOOL_CHECK_BYTES)) this.scheduleEviction();
  }

  private committed(stored: StoredBlob, spooled: number): void {
    this.spoolBytes -= spooled;
    const now = this.now();
    const record = { digest: stored.digest, size: stored.size, lastUsed: now, ...(stored.mediaType ? { mediaType: stored.mediaType } : {}) };
    this.setEntry(record, now);
    // Hashed on the way in by this very process: no need to hash it again on first serve.
    this.verified.add(stored.digest);
    this.options.journal?.added(record);
    this.scheduleEviction();
  }

  /** Starts a pass unless one runs; a running pass is told to run once more. */
  private scheduleEviction(): void {
    const budget = this.options.budget;
    if (!budget || this.usedBytes <= budget.maxBytes) return;
    if (this.evicting) {
      this.evictAgain = true;
      return;
    }
    this.evicting = (async () => {
      try {
        for (let pass = 0; pass < 10; pass += 1) {
          this.evictAgain = false;
          await this.evictPass(budget);
          if (!this.evictAgain) break;
        }
      } catch (error) {
        this.options.logger.error({ err: String(error) }, 'eviction failed');
      } finally {
        this.evicting = undefined;
      }
    })();
  }

  private async evictPass(budget: CacheBudget): Promise<void> {
    if (this.usedBytes <= budget.maxBytes) return;
    const started = performance.now();
    const pinned = (await this.options.pins?.pinnedDigests().catch((error: unknown) => {
      // Unreadable pins: evicting a pinned image would break a promise, so evict nothing.
      this.options.logger.error({ err: String(error) }, 'pins unreadable: eviction skipped');
      return undefined;
    })) ?? (this.options.pins ? undefined : new Set<string>());
    if (!pinned) return;
    const now = this.now();
    let protectedByGrace = false;
    const candidates = [...this.entries]
      .filter(([digest, entry]) => {
        if (pinned.has(digest) || this.isInUse(digest) || this.removing.has(digest)) return false;
        if (now - entry.statAt < OPEN_GRACE_MS) {
          protectedByGrace = true;
          return false;
        }
        return true;
      })
      .sort(([, a], [, b]) => a.lastUsed - b.lastUsed);
    let evicted = 0;
    let freedBytes = 0;
    for (const [digest, entry] of candidates) {
      if (this.usedBytes <= budget.lowWaterBytes) break;
      // Re-checked after every await: a reader may have arrived meanwhile.
      if (this.isInUse(digest) || this.entries.get(digest) !== entry || this.now() - entry.statAt < OPEN_GRACE_MS) continue;
      this.removing.add(digest);
      try {
        await this.options.inner.remove(parseDigest(digest));
      } catch (error) {
        this.options.logger.warn({ digest, err: String(error) }, 'could not evict a blob');
        continue;
      } finally {
        this.removing.delete(digest);
      }
      this.forget(digest, 'evicted');
      evicted += 1;
      freedBytes += entry.size;
    }
    this.lastReport = { evicted, freedBytes, usedBytes: this.usedBytes, candidates: candidates.length, ms: performance.now() - started };
    this.options.logger.info({ ...this.lastReport, maxBytes: budget.maxBytes, lowWaterBytes: budget.lowWaterBytes }, 'cache eviction');
    if (this.usedBytes > budget.maxBytes) {
      if (protectedByGrace) {
        // Only blobs about to be served stand in the way: try again once they are open.
        clearTimeout(this.retryTimer);
        this.retryTimer = setTimeout(() => this.scheduleEviction(), OPEN_GRACE_MS).unref();
      } else {
        this.options.logger.warn({ usedBytes: this.usedBytes, maxBytes: budget.maxBytes }, 'cache over budget: the rest is pinned or in use');
      }
    }
  }
}

interface WriterEvents {
  written(bytes: number): void;
  committed(stored: StoredBlob, spooled: number): void;
  diskFull(error: unknown): void;
  released(spooled: number): void;
}

/** Reports a writer's growth, commit and release to the store that counts them. */
class TrackedWriter implements BlobWriter {
  private spooled = 0;
  private released = false;
  private reportedFull = false;

  constructor(
    private readonly inner: BlobWriter,
    private readonly events: WriterEvents,
  ) {}

  get digest(): Digest {
    return this.inner.digest;
  }

  get bytesWritten(): number {
    return this.inner.bytesWritten;
  }

  async write(chunk: Buffer): Promise<void> {
    try {
      await this.inner.write(chunk);
    } catch (error) {
      this.noteFull(error);
      throw error;
    }
    this.spooled += chunk.length;
    this.events.written(chunk.length);
  }

  read(position: number, length: number): Promise<Buffer> {
    return this.inner.read(position, length);
  }

  async commit(): Promise<StoredBlob> {
    let stored: StoredBlob;
    try {
      stored = await this.inner.commit();
    } catch (error) {
      this.noteFull(error);
      throw error;
    }
    this.events.committed(stored, this.spooled);
    this.spooled = 0;
    return stored;
  }

  async abort(): Promise<void> {
    try {
      await this.inner.abort();
    } finally {
      if (!this.released) {
        this.released = true;
        this.events.released(this.spooled);
        this.spooled = 0;
      }
    }
  }

  private noteFull(error: unknown): void {
    if (!isDiskFull(error) || this.reportedFull) return;
    this.reportedFull = true;
    this.events.diskFull(error);
  }
}

/** Stands in for a spool that could not be created because the disk is full. */
class DiskFullWriter implements BlobWriter {
  readonly bytesWritten = 0;

  constructor(
    readonly digest: Digest,
    private readonly error: unknown,
  ) {}

  write(): Promise<void> {
    return Promise.reject(this.error instanceof Error ? this.error : new Error(String(this.error)));
  }

  read(): Promise<Buffer> {
    return Promise.resolve(Buffer.alloc(0));
  }

  commit(): Promise<StoredBlob> {
    return Promise.reject(this.error instanceof Error ? this.error : new Error(String(this.error)));
  }

  abort(): Promise<void> {
    return Promise.resolve();
  }
}
