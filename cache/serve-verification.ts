import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import { parseDigest, type Digest } from '../oci/digest.js';
import { hasCode, type BlobStore, type StoredBlob } from './blob-store.js';
import { DigestVerifier } from './digest-verifier.js';
import { HoldBackVerifier } from './hold-back-verifier.js';

/** What a content file looked like when its bytes last hashed right. */
interface Stamp {
  readonly size: number;
  readonly mtimeMs: number | undefined;
}

export interface ServeVerificationOptions {
  readonly inner: BlobStore;
  readonly logger: Logger;
  /** Called once per corrupt blob found; resolves when it is gone from the store. */
  readonly onCorrupt: (digest: Digest, error: unknown) => Promise<void>;
}

/**
 * Keeps corrupt bytes from being served. Content was hashed when it entered the cache, but a
 * file can rot or be overwritten afterwards, so:
 * - every whole-blob serve is hashed as it streams, the last chunk held back until it matched;
 * - a range cannot be checked on its own: a blob never checked by this process is hashed whole
 *   first, and one whose file changed size or mtime since its last check is re-checked in the
 *   background while the range is served.
 * A blob that fails is handed to `onCorrupt` (removed), so the next request fetches it again.
 */
export class ServeVerification {
  /** Blobs whose bytes hashed right in this process, with their file's stamp then (if known). */
  private readonly verified = new Map<string, Stamp | undefined>();
  private readonly checks = new Map<string, Promise<boolean>>();

  constructor(private readonly options: ServeVerificationOptions) {}

  /** Hashed on the way in by this process (a commit); without the file's mtime, it is read in the background. */
  trust(stored: StoredBlob): void {
    if (stored.mtimeMs !== undefined) {
      this.verified.set(stored.digest, { size: stored.size, mtimeMs: stored.mtimeMs });
      return;
    }
    this.verified.set(stored.digest, undefined);
    this.captureStamp(stored.digest);
  }

  forget(digest: string): void {
    this.verified.delete(digest);
  }

  /** True when `stored` (a fresh stat) is the file that last hashed right. */
  isCurrent(stored: StoredBlob): boolean {
    if (!this.verified.has(stored.digest)) return false;
    const stamp = this.verified.get(stored.digest);
    if (!stamp) return true;
    return stamp.size === stored.size && (stored.mtimeMs === undefined || stamp.mtimeMs === stored.mtimeMs);
  }

  isVerified(digest: string): boolean {
    return this.verified.has(digest);
  }

  /** Reads and hashes the whole blob (one check per blob at a time); false when it is corrupt or gone. */
  checkWhole(digest: Digest): Promise<boolean> {
    let check = this.checks.get(digest.value);
    if (!check) {
      check = this.hashWhole(digest).finally(() => this.checks.delete(digest.value));
      this.checks.set(digest.value, check);
    }
    return check;
  }

  /** A range is about to be served: re-check the whole file behind it if it changed since its check. */
  async checkBehindRange(digest: Digest): Promise<void> {
    const stored = await this.options.inner.stat(digest).catch(() => undefined);
    if (!stored || this.isCurrent(stored)) return;
    this.options.logger.warn({ digest: digest.value, size: stored.size }, 'cached file changed since it was verified: checking it again');
    this.checkWhole(digest).catch((error: unknown) => this.options.logger.error({ digest: digest.value, err: String(error) }, 'background check failed'));
  }

  /**
   * Wraps a whole-blob read so it errors (and the blob is dropped) instead of ending on bad
   * bytes. `expectedBytes` (the stored size, when known) lets it hold back only the final chunk.
   */
  verifying(digest: Digest, stream: Readable, expectedBytes?: number): HoldBackVerifier {
    return new HoldBackVerifier(stream, digest, expectedBytes, (ok) => {
      if (!ok) return this.options.onCorrupt(digest, new Error('hash mismatch while serving'));
      if (!this.verified.has(digest.value)) {
        this.verified.set(digest.value, undefined);
        this.captureStamp(digest.value);
      }
      return undefined;
    });
  }

  private async hashWhole(digest: Digest): Promise<boolean> {
    const before = await this.options.inner.stat(digest).catch(() => undefined);
    if (!before) return false;
    const verifier = new DigestVerifier(digest);
    try {
      for await (const chunk of await this.options.inner.createReadStream(digest)) verifier.update(chunk as Buffer);
      verifier.verify();
    } catch (error) {
      if (hasCode(error, 'ENOENT')) return false;
      await this.options.onCorrupt(digest, error);
      return false;
    }
    this.verified.set(digest.value, { size: before.size, mtimeMs: before.mtimeMs });
    return true;
  }

  private captureStamp(digest: string): void {
    this.options.inner.stat(parseDigest(digest)).then(
      (stored) => {
        if (stored && this.verified.has(digest) && this.verified.get(digest) === undefined) {
          this.verified.set(digest, { size: stored.size, mtimeMs: stored.mtimeMs });
        }
      },
      () => undefined,
    );
  }
}
