import { Readable } from 'node:stream';
import type { Digest } from '../oci/digest.js';
import { DigestVerifier } from './digest-verifier.js';

/**
 * Passes a blob through while hashing it, holding back the last chunk until the whole blob
 * matched its digest. A corrupt file therefore never reaches a client complete: the stream
 * errors instead, the client sees a cut response (and retries), and `onResult` lets the
 * store drop the file so the retry fetches it again.
 *
 * It pulls one chunk from `source` each time its own consumer asks (highWaterMark 0), rather
 * than being a Transform piped from it: a Transform keeps a chunk in its readable buffer and
 * one held back on top of the one stuck on the socket, three chunks per client that stopped
 * reading where the plain file reader holds one. When the blob's size is known, only the
 * chunk that completes it is held back (the one that would make a corrupt copy whole);
 * without it every chunk waits for the next one to show it was not the last.
 */
export class HoldBackVerifier extends Readable {
  private held: Buffer | undefined;
  private received = 0;
  private waiting = false;
  private readonly verifier: DigestVerifier;

  constructor(
    private readonly source: Readable,
    digest: Digest,
    /** The blob's size when known; undefined: find the last chunk by reading one ahead. */
    private readonly expectedBytes: number | undefined,
    /** On a mismatch the error waits for this, so a client that retries at once finds the blob gone. */
    private readonly onResult: (ok: boolean) => Promise<void> | void,
  ) {
    super({ highWaterMark: 0 });
    this.verifier = new DigestVerifier(digest);
    source.once('error', (error) => this.destroy(error));
    source.once('end', () => this.finish());
  }

  override _read(): void {
    this.pull();
  }

  /** No chunk of the source is held here: none held back, none waiting in this stream's buffer. */
  get holdsNoChunk(): boolean {
    return this.held === undefined && this.readableLength === 0;
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.source.destroy();
    callback(error);
  }

  private pull(): void {
    for (;;) {
      const chunk = this.source.read() as Buffer | null;
      if (chunk === null) {
        // Nothing yet: the next 'readable' (a chunk, or the end) resumes this read.
        if (!this.waiting && !this.source.readableEnded) {
          this.waiting = true;
          this.source.once('readable', () => {
            this.waiting = false;
            if (!this.destroyed) this.pull();
          });
        }
        return;
      }
      this.verifier.update(chunk);
      this.received += chunk.length;
      const previous = this.held;
      const mayBeLast = this.expectedBytes === undefined || this.received >= this.expectedBytes;
      this.held = mayBeLast ? chunk : undefined;
      const pass = mayBeLast ? previous : chunk;
      // A chunk passed on answers this read; a chunk only held back means reading one more.
      if (pass !== undefined) {
        this.push(pass);
        return;
      }
    }
  }

  private finish(): void {
    if (this.destroyed) return;
    try {
      this.verifier.verify();
    } catch (error) {
      const failure = error instanceof Error ? error : new Error(String(error));
      void Promise.resolve(this.onResult(false)).then(
        () => this.destroy(failure),
        () => this.destroy(failure),
      );
      return;
    }
    void this.onResult(true);
    if (this.held !== undefined) this.push(this.held);
    this.held = undefined;
    this.push(null);
  }
}
