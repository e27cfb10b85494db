import type { FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pacedReadSize } from './paced-read-size.js';
import { READ_BUFFER_MIN_BYTES } from './read-buffer-mapping.js';
import type { ReadBudget } from './read-budget.js';

/**
 * Reads `[start, end]` of an open file only when the consumer asks (no read-ahead buffer:
 * highWaterMark 0), each read sized by `pacedReadSize`. A response whose client stopped
 * reading therefore holds the one chunk it is stuck on and nothing more; fs.ReadStream would
 * hold a full highWaterMark in its buffer on top of the chunk queued on the socket.
 *
 * With `consumed` (see BlobReadOptions), the next read goes into the buffer of the last one
 * once its consumer has written it out, so a response allocates a buffer per read size, not
 * per read: fresh buffers are garbage the collector frees in steps of tens of MB, and, as
 * mappings of their own (READ_BUFFER_MIN_BYTES), new memory the kernel faults in page by
 * page, which halved the loopback throughput of 200 readers when every read had one.
 */
export class FileRangeReader extends Readable {
  private position: number;
  private delivered = 0;
  private readonly leaveBudget: () => void;
  /** The buffer of the last read, when the consumer may hand it back. */
  private spare: Buffer | undefined;

  constructor(
    private readonly handle: FileHandle,
    start: number,
    private readonly end: number,
    private readonly largeReadBytes: number,
    /** Shared by the store's reads: many readers at once each get a smaller large read. */
    private readonly budget?: ReadBudget,
    private readonly consumed?: () => boolean,
  ) {
    super({ highWaterMark: 0 });
    this.position = start;
    this.leaveBudget = budget?.enter() ?? (() => undefined);
  }

  override _read(): void {
    const left = this.end - this.position + 1;
    if (left <= 0) {
      this.push(null);
      return;
    }
    const large = this.budget?.largeReadBytes(this.largeReadBytes) ?? this.largeReadBytes;
    const capacity = pacedReadSize(this.delivered, large);
    const length = Math.min(left, capacity);
    // A range that takes more than this read gets a buffer it can read into again (see READ_BUFFER_MIN_BYTES).
    const reusableBytes = Math.max(capacity, READ_BUFFER_MIN_BYTES);
    const buffer = this.reusable(reusableBytes) ?? Buffer.allocUnsafe(this.consumed && length < left ? reusableBytes : length);
    // Dropped while the read runs: nothing may hand the same memory out twice.
    this.spare = undefined;
    this.handle.read(buffer, 0, length, this.position).then(
      ({ bytesRead }) => {
        if (this.destroyed) return;
        if (bytesRead === 0) {
          // The file is shorter than its stat said: a truncated blob must not pass as whole.
          this.destroy(new Error(`file ended at ${this.position}, before ${this.end + 1}`));
          return;
        }
        this.position += bytesRead;
        this.delivered += bytesRead;
        if (this.consumed) this.spare = buffer;
        this.push(bytesRead === buffer.length ? buffer : buffer.subarray(0, bytesRead));
      },
      (error: unknown) => this.destroy(error instanceof Error ? error : new Error(String(error))),
    );
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.spare = undefined;
    this.leaveBudget();
    this.handle.close().then(
      () => callback(error),
      () => callback(error),
    );
  }

  /**
   * The last read's buffer, if it is the size this read wants (a share of the budget that
   * shrank gets a smaller buffer rather than keeping a larger one) and nothing still holds it:
   * not this stream's own buffer, nor anything downstream (`consumed`).
   */
  private reusable(bytes: number): Buffer | undefined {
    const spare = this.spare;
    if (spare === undefined || spare.length !== bytes || this.readableLength > 0) return undefined;
    return this.consumed?.() === true ? spare : undefined;
  }
}
