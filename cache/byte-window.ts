/**
 * The most recent bytes of a stream that is not being kept anywhere else (a download whose
 * spool hit a full disk): `start..end` (end exclusive) in memory, oldest dropped first.
 * Readers that fall behind `start` cannot be served; the owner bounds the window size.
 */
export class ByteWindow {
  private chunks: Buffer[] = [];
  private first: number;
  private last: number;

  constructor(start: number) {
    this.first = start;
    this.last = start;
  }

  get start(): number {
    return this.first;
  }

  get end(): number {
    return this.last;
  }

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.last += chunk.length;
  }

  /** Drops whole chunks that end at or before `position`. */
  trimBefore(position: number): void {
    while (this.chunks.length > 0) {
      const head = this.chunks[0];
      if (head === undefined || this.first + head.length > position) return;
      this.chunks.shift();
      this.first += head.length;
    }
  }

  /** Up to `length` bytes from `position`; throws when they were already dropped. */
  read(position: number, length: number): Buffer {
    if (position < this.first) {
      throw new Error(`bytes at ${position} are no longer held (window starts at ${this.first}): the reader fell behind an uncached download`);
    }
    const parts: Buffer[] = [];
    let offset = this.first;
    let wanted = Math.min(length, this.last - position);
    for (const chunk of this.chunks) {
      if (wanted <= 0) break;
      const chunkEnd = offset + chunk.length;
      if (chunkEnd > position) {
        const from = Math.max(0, position - offset);
        const piece = chunk.subarray(from, Math.min(chunk.length, from + wanted));
        parts.push(piece);
        wanted -= piece.length;
        position += piece.length;
      }
      offset = chunkEnd;
    }
    return parts.length === 1 && parts[0] ? parts[0] : Buffer.concat(parts);
  }
}
