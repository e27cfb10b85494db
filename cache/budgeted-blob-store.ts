import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import type { ByteRange } from '../oci/byte-range.js';
import { parseDigest, type Digest } from '../oci/digest.js';
import { RegistryError } from '../oci/registry-error.js';
import { BlobInventory, type InventoryEntry } from './blob-inventory.js';
import { CodedError, type BlobReadOptions, type BlobStore, type BlobWriter, type StoredBlob } from './blob-store.js';
import type { CacheBudget } from './cache-budget.js';
import type { EvictionReport } from './lru-eviction-pass.js';
import { isDiskFull } from './disk-full.js';
import { DiskFullWriter } from './disk-full-writer.js';
import { EvictionScheduler } from './eviction-scheduler.js';
import { reconcileInventory } from './inventory-reconciliation.js';
import type { HoldBackVerifier } from './hold-back-verifier.js';
import { ServeVerification } from './serve-verification.js';
import { TrackedWriter } from './tracked-writer.js';
import { UseCounts } from './use-counts.js';
import type { PinnedDigests } from './pins.js';
import type { UsageJournal } from './usage-journal.js';

export type { EvictionReport } from './lru-eviction-pass.js';

/** Why a blob left the store; every reason means "stop advertising it". */
export type RemovalReason = 'evicted' | 'corrupt' | 'missing' | 'removed';

/** Blobs up to this size are hash-checked inside `stat` when unchecked, so a corrupt one reads as a miss. */
const VERIFY_IN_STAT_BYTES = 4 * 1024 * 1024;

export interface BudgetedBlobStoreOptions {
  readonly inner: BlobStore;
  readonly logger: Logger;
  /** Absent: no limit (the store still tracks use and verifies what it serves). */
  readonly budget?: CacheBudget;
  /**
   * Bound on the bytes of all spools together (downloads not yet verified); absent: none.
   * Unverified bytes never count against `budget`, so they can never evict verified content;
   * a write past this bound fails with ESPOOLFULL and the download is served uncached.
   */
  readonly maxSpoolBytes?: number;
  readonly pins?: PinnedDigests;
  /** Persists the inventory and last-use times; absent: kept in memory only. */
  readonly journal?: UsageJournal;
  /** Told when a blob leaves (so the LAN stops being told it is here). */
  readonly onRemoved?: (digest: string, reason: RemovalReason, bytes: number) => void;
  /** Told when the background reconciliation finds a blob the journal did not know. */
  readonly onAdded?: (digest: string) => void;
  /** Hash-check what is served (serve-verification.ts; default true). Off only for measurements. */
  readonly verifyServes?: boolean;
  readonly now?: () => number;
}

/**
 * A `BlobStore` decorator that keeps the cache inside its budget. It knows every committed
 * blob's size and last use, which blobs are being read or written right now, and which are
 * pinned; when the budget is passed it removes least-recently-used blobs down to the
 * low-water mark. Eviction runs beside serving, never in front of it.
 *
 * It also refuses to serve corrupt content (serve-verification.ts): every whole-blob serve
 * is hashed while it streams, and a blob that fails is removed so the next request fetches
 * it again.
 */
export class BudgetedBlobStore implements BlobStore {
  private readonly inventory: BlobInventory;
  /** Blobs being read or written: never evicted or dropped from the inventory meanwhile. */
  private readonly inUse = new UseCounts();
  private readonly removing = new Set<string>();
  private readonly verification: ServeVerification | undefined;
  /** Bytes in spools not yet committed: they take disk space too. */
  private spoolBytes = 0;
  private loading: Promise<void> | undefined;
  private reconciling: Promise<void> | undefined;
  private readonly eviction: EvictionScheduler;
  private readonly now: () => number;

  constructor(private readonly options: BudgetedBlobStoreOptions) {
    this.now = options.now ?? Date.now;
    this.inventory = new BlobInventory(options.journal, this.now);
    this.verification =
      options.verifyServes === false
        ? undefined
        : new ServeVerification({ inner: options.inner, logger: options.logger, onCorrupt: (digest, error) => this.dropCorrupt(digest, error) });
    this.eviction = new EvictionScheduler(
      {
        // Verified content only: a spool (a flood, say) must never push out what is known good.
        usedBytes: () => this.inventory.committedBytes,
        entries: () => this.inventory.snapshot(),
        current: (digest) => this.inventory.get(digest),
        isBusy: (digest) => this.inUse.has(digest) || this.removing.has(digest),
        evict: async (digest) => {
          this.removing.add(digest);
          try {
            await this.options.inner.remove(parseDigest(digest));
          } finally {
            this.removing.delete(digest);
          }
          this.forget(digest, 'evicted');
        },
        now: this.now,
        logger: options.logger,
        ...(options.pins ? { pins: options.pins } : {}),
      },
      options.budget,
    );
  }

  /** Bytes the cache holds (committed blobs plus growing spools). */
  get usedBytes(): number {
    return this.inventory.committedBytes + this.spoolBytes;
  }

  /** Bytes in spools: downloads in flight, not yet verified. */
  get spooledBytes(): number {
    return this.spoolBytes;
  }

  get blobCount(): number {
    return this.inventory.count;
  }

  get lastEviction(): EvictionReport | undefined {
    return this.eviction.lastEviction;
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
    // An eviction that began while the file was looked at wins: the blob is a miss (fetched
    // again), not a hit whose open would find the file gone.
    if (this.removing.has(digest.value)) return undefined;
    if (!stored) {
      if (this.inventory.has(digest.value)) this.forget(digest.value, 'missing');
      return undefined;
    }
    const entry = this.track(stored);
    entry.statAt = this.now();
    this.inventory.markUsed(digest.value, entry);
    if (this.verification && stored.size <= VERIFY_IN_STAT_BYTES && !this.verification.isCurrent(stored)) {
      // Small blobs (manifests, configs) are checked whole before the mirror decides it has
      // them: a corrupt one becomes a miss and is fetched again, the client never notices.
      if (!(await this.verification.checkWhole(digest))) return undefined;
    }
    return stored;
  }

  async createReadStream(digest: Digest, range?: ByteRange, options: BlobReadOptions = {}): Promise<Readable> {
    await this.load();
    if (this.removing.has(digest.value)) throw new CodedError('ENOENT', `${digest.value} is being removed`);
    this.inUse.acquire(digest.value);
    let stream: Readable;
    try {
      const entry = this.inventory.get(digest.value);
      if (entry) this.inventory.markUsed(digest.value, entry);
      const whole = !range || (range.start === 0 && entry !== undefined && range.end >= entry.size - 1);
      const verification = this.verification;
      if (verification && !whole) {
        // Nothing to check: a blob that is not stored is unknown, not corrupt.
        if (entry === undefined && !(await this.options.inner.stat(digest))) throw new CodedError('ENOENT', `${digest.value} is not stored`);
        // A part cannot be checked on its own. Never checked here: check the whole file
        // first (rare: resumes). Checked before: only a changed file is checked again.
        if (!verification.isVerified(digest.value)) {
          if (!(await verification.checkWhole(digest))) {
            throw new RegistryError('UNAVAILABLE', `cached ${digest.value} was corrupt and is removed; retry to fetch it again`, { retryAfterSeconds: 0 });
          }
        } else {
          await verification.checkBehindRange(digest);
        }
      }
      if (verification && whole) {
        // The verifier sits between the file and the consumer: a chunk is consumed once the
        // verifier has passed it on (not held it back) and the consumer has written it out.
        const downstream: { verifier?: HoldBackVerifier } = {};
        const outer = options.consumed;
        const consumed = outer && (() => downstream.verifier?.holdsNoChunk === true && outer());
        const file = await this.options.inner.createReadStream(digest, range, consumed ? { consumed } : {});
        stream = downstream.verifier = verification.verifying(digest, file, entry?.size);
      } else {
        stream = await this.options.inner.createReadStream(digest, range, options);
      }
    } catch (error) {
      this.inUse.release(digest.value);
      throw error;
    }
    let released = false;
    stream.once('close', () => {
      if (released) return;
      released = true;
      this.inUse.release(digest.value);
    });
    return stream;
  }

  async createWriter(digest: Digest, options: { mediaType?: string } = {}): Promise<BlobWriter> {
    await this.load();
    this.inUse.acquire(digest.value);
    let writer: BlobWriter;
    try {
      writer = await this.options.inner.createWriter(digest, options);
    } catch (error) {
      if (!isDiskFull(error)) {
        this.inUse.release(digest.value);
        throw error;
      }
      // The spool could not even be created: a writer that fails its first write lets the
      // download go on without caching (mirror/blob-download.ts pass-through).
      writer = new DiskFullWriter(digest, error);
    }
    const maxSpool = this.options.maxSpoolBytes;
    return new TrackedWriter(writer, {
      admit: (bytes) => maxSpool === undefined || this.spoolBytes + bytes <= maxSpool,
      written: (bytes) => {
        this.spoolBytes += bytes;
      },
      committed: (stored, spooled) => this.committed(stored, spooled),
      diskFull: (error) => this.options.logger.warn({ digest: digest.value, err: String(error) }, 'disk full: caching is off for this download'),
      released: (spooled) => {
        this.spoolBytes -= spooled;
        this.inUse.release(digest.value);
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
    for (const [digest, entry] of this.inventory.snapshot()) {
      yield { digest, size: entry.size, ...(entry.mediaType ? { mediaType: entry.mediaType } : {}) };
    }
    // The first full listing is the node's start-up advertisement; once it is done (and
    // discovery can hear about more), the journal is checked against the index.
    this.reconcile().catch((error: unknown) => this.options.logger.warn({ err: String(error) }, 'cache reconciliation failed'));
  }

  /** Checks the inventory against the inner store's listing in the background (inventory-reconciliation.ts). */
  reconcile(): Promise<void> {
    this.reconciling ??= this.reconcileEntries();
    return this.reconciling;
  }

  /** Runs an eviction pass now (if over budget) and resolves when no pass is running. */
  async evictNow(): Promise<EvictionReport | undefined> {
    await this.load();
    this.eviction.schedule();
    await this.idle();
    return this.eviction.lastEviction;
  }

  /** Resolves when no eviction pass is running or queued. */
  idle(): Promise<void> {
    return this.eviction.idle();
  }

  /** Stops the retry timer, waits for the reconciliation (it writes to the journal, its failure is logged where it began) and evictions, closes the journal. */
  async close(): Promise<void> {
    this.eviction.stop();
    await this.reconciling?.catch(() => undefined);
    await this.idle();
    await this.options.journal?.close();
  }

  private async loadEntries(): Promise<void> {
    const known = this.now();
    if (this.options.journal) {
      for (const record of (await this.options.journal.load()).values()) this.inventory.set(record, known);
      return;
    }
    // No journal (memory stores, tests): the inner listing is the inventory.
    for await (const blob of this.options.inner.list()) {
      this.inventory.set({ digest: blob.digest, size: blob.size, lastUsed: known, ...(blob.mediaType ? { mediaType: blob.mediaType } : {}) }, known);
    }
    this.reconciling = Promise.resolve();
  }

  /** The entry for content the inner store just confirmed, created if the journal missed it. */
  private track(stored: StoredBlob): InventoryEntry {
    const entry = this.inventory.get(stored.digest);
    if (entry && entry.size === stored.size) return entry;
    this.eviction.schedule();
    return this.inventory.add(stored);
  }

  private async reconcileEntries(): Promise<void> {
    await reconcileInventory({
      inner: this.options.inner,
      now: this.now,
      entry: (digest) => this.inventory.get(digest),
      digests: () => this.inventory.digests(),
      set: (record, knownSince) => this.inventory.remember(record, knownSince),
      added: (digest) => this.options.onAdded?.(digest),
      missing: (digest) => {
        if (this.inUse.has(digest)) return false;
        this.forget(digest, 'missing');
        return true;
      },
      summary: (counts) => this.options.logger.info({ blobs: this.inventory.count, ...counts, bytes: this.inventory.committedBytes }, 'cache inventory reconciled'),
    });
    this.eviction.schedule();
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
    this.verification?.forget(digest);
    const entry = this.inventory.delete(digest);
    if (!entry) return;
    this.options.onRemoved?.(digest, reason, entry.size);
  }

  private committed(stored: StoredBlob, spooled: number): void {
    this.spoolBytes -= spooled;
    this.inventory.add(stored);
    // Hashed on the way in by this very process: ranges need no whole-file check first.
    this.verification?.trust(stored);
    this.eviction.schedule();
  }
}
