import { Transform, type TransformCallback } from 'node:stream';
import type { Digest } from '../oci/digest.js';
import { DigestVerifier } from './digest-verifier.js';

/**
 * Passes a blob through while hashing it, holding back the last chunk until the whole blob
 * matched its digest. A corrupt file therefore never reaches a client complete: the stream
 * errors instead, the client sees a cut response (and retries), and `onResult` lets the
 * store drop the file so the retry fetches it again.
 */
export class HoldBackVerifier extends Transform {
  private held: Buffer | undefined;
  private readonly verifier: DigestVerifier;

  constructor(
    digest: Digest,
    /** On a mismatch the error waits for this, so a client that retries at once finds the blob gone. */
    private readonly onResult: (ok: boolean) => Promise<void> | void,
  ) {
    super();
    this.verifier = new DigestVerifier(digest);
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.verifier.update(chunk);
    const previous = this.held;
    this.held = chunk;
    callback(null, previous);
  }

  override _flush(callback: TransformCallback): void {
    try {
      this.verifier.verify();
    } catch (error) {
      const failure = error instanceof Error ? error : new Error(String(error));
      void Promise.resolve(this.onResult(false)).then(
        () => callback(failure),
        () => callback(failure),
      );
      return;
    }
    void this.onResult(true);
    callback(null, this.held);
  }
}
