import type { BlobWriter } from '../cache/blob-store.js';
import { ByteWindow } from '../cache/byte-window.js';
import { DigestVerifier } from '../cache/digest-verifier.js';
import { parseDigest } from '../oci/digest.js';
import { RegistryError } from '../oci/registry-error.js';

/**
 * Once the spool cannot grow (disk full, or the spool bound), readers are fed from memory: this many bytes past
 * the fastest reader at most, so memory stays flat whatever the layer size.
 */
const PASS_THROUGH_WINDOW_BYTES = 8 * 1024 * 1024;
/** An uncached download that no reader drains for this long is abandoned. */
const PASS_THROUGH_STALL_MS = 30_000;

/**
 * A download that went on without its spool (disk full, or the spool bound): bytes
 * 0..spooled are still readable from the spool, later ones only from a window in memory
 * that the source never runs more than a window ahead of. The digest is checked here,
 * since nothing will be committed.
 */
export class PassThrough {
  private readonly window: ByteWindow;
  /** The furthest byte any reader asked for: the source never runs more than a window ahead. */
  private readHighWater: number;
  private wake: (() => void) | undefined;

  private constructor(
    private readonly spool: BlobWriter,
    /** Bytes 0..spooled are readable from the spool; later ones only from the window. */
    readonly spooled: number,
    private readonly verifier: DigestVerifier,
  ) {
    this.window = new ByteWindow(spooled);
    this.readHighWater = spooled;
  }

  /**
   * Starts after the spool write failed for lack of space. The digest is re-hashed from the
   * bytes already spooled (the writer's own hash saw the failed chunk).
   */
  static async fromSpool(spool: BlobWriter, digest: string): Promise<PassThrough> {
    const spooled = spool.bytesWritten;
    const verifier = new DigestVerifier(parseDigest(digest));
    const step = 1024 * 1024;
    for (let position = 0; position < spooled; position += step) {
      const bytes = await spool.read(position, Math.min(step, spooled - position));
      if (bytes.length === 0) throw new Error('spool read returned no bytes');
      verifier.update(bytes);
    }
    return new PassThrough(spool, spooled, verifier);
  }

  /** Bytes received so far, spooled or in memory. */
  get end(): number {
    return this.window.end;
  }

  read(position: number, length: number): Promise<Buffer> {
    if (position < this.spooled) return this.spool.read(position, Math.min(length, this.spooled - position));
    const bytes = this.window.read(position, length);
    if (position + bytes.length > this.readHighWater) {
      this.readHighWater = position + bytes.length;
      this.wake?.();
    }
    return Promise.resolve(bytes);
  }

  /** Holds the source while the fastest reader is a full window behind, then keeps the chunk for readers. */
  async append(chunk: Buffer, signal: AbortSignal): Promise<void> {
    await this.waitForReaders(signal);
    this.verifier.update(chunk);
    this.window.push(chunk);
    this.window.trimBefore(Math.min(this.readHighWater, this.window.end - PASS_THROUGH_WINDOW_BYTES));
  }

  /** Throws EINTEGRITY when the bytes do not match the digest. */
  verify(): void {
    this.verifier.verify();
  }

  private async waitForReaders(signal: AbortSignal): Promise<void> {
    const deadline = Date.now() + PASS_THROUGH_STALL_MS;
    while (this.window.end - this.readHighWater >= PASS_THROUGH_WINDOW_BYTES) {
      if (signal.aborted) throw new RegistryError('UNAVAILABLE', 'download aborted');
      const left = deadline - Date.now();
      if (left <= 0) throw new RegistryError('UNAVAILABLE', 'no reader drained an uncached download');
      await new Promise<void>((resolve) => {
        const done = (): void => {
          clearTimeout(timer);
          signal.removeEventListener('abort', done);
          this.wake = undefined;
          resolve();
        };
        const timer = setTimeout(done, left);
        signal.addEventListener('abort', done, { once: true });
        this.wake = done;
      });
    }
  }
}
