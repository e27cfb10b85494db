import type { BlobStore } from './blob-store.js';
import type { UsageRecord } from './usage-journal.js';

interface KnownEntry {
  readonly size: number;
  readonly lastUsed: number;
  /** When this process learnt of the entry. */
  readonly knownSince: number;
}

/** The inventory being reconciled, and what to do with each difference found. */
export interface ReconcileHost {
  readonly inner: BlobStore;
  now(): number;
  entry(digest: string): KnownEntry | undefined;
  digests(): string[];
  /** Records a blob the inventory missed or had the wrong size for. */
  set(record: UsageRecord, knownSince: number): void;
  /** A blob the inventory did not know at all. */
  added(digest: string): void;
  /** A blob the inner store no longer lists; false when it is in use and so kept. */
  missing(digest: string): boolean;
  summary(counts: { added: number; dropped: number; ms: number }): void;
}

/**
 * Brings an inventory in line with the inner store's own listing: adds what the journal missed
 * (a crash after commit), drops what is gone (removed by hand, or by `edgepier cache verify`),
 * fixes sizes. Entries learnt after the listing began may simply be newer than it: kept.
 */
export async function reconcileInventory(host: ReconcileHost): Promise<void> {
  const started = host.now();
  const seen = new Set<string>();
  let added = 0;
  for await (const blob of host.inner.list()) {
    seen.add(blob.digest);
    const entry = host.entry(blob.digest);
    if (entry && entry.size === blob.size) continue;
    const record = { digest: blob.digest, size: blob.size, lastUsed: entry?.lastUsed ?? started, ...(blob.mediaType ? { mediaType: blob.mediaType } : {}) };
    host.set(record, entry?.knownSince ?? started);
    if (!entry) {
      added += 1;
      host.added(blob.digest);
    }
  }
  let dropped = 0;
  for (const digest of host.digests()) {
    const entry = host.entry(digest);
    if (!entry || seen.has(digest) || entry.knownSince >= started) continue;
    if (host.missing(digest)) dropped += 1;
  }
  host.summary({ added, dropped, ms: host.now() - started });
}
