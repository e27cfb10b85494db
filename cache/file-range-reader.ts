import type { FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pacedReadSize } from './paced-read-size.js';
import type { ReadBudget } from './read-budget.js';

/**
 * Reads `[start, end]` of an open file only when the consumer asks (no read-ahead buffer:
 * highWaterMark 0), each read sized by `pacedReadSize`. A response whose client stopped
 * reading therefore holds the one chunk it is stuck on and nothing more; fs.ReadStream would
 * hold a full highWaterMark in its buffer on top of the chunk queued on the socket.
 */
export class FileRangeReader extends Readable {
  private position: number;
  private delivered = 0;
  private readonly leaveBudget: () => void;

  constructor(
    private readonly handle: FileHandle,
    start: number,
    private readonly end: number,
    private readonly largeReadBytes: number,
    /** Shared by the store's reads: many readers at once each get a smaller large read. */
    private readonly budget?: ReadBudget,
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
    const length = Math.min(left, pacedReadSize(this.delivered, large));
    const buffer = Buffer.allocUnsafe(length);
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
        this.push(bytesRead === length ? buffer : buffer.subarray(0, bytesRead));
      },
      (error: unknown) => this.destroy(error instanceof Error ? error : new Error(String(error))),
    );
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.leaveBudget();
    this.handle.close().then(
      () => callback(error),
      () => callback(error),
    );
  }
}
