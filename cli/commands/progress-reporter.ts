/** Where progress goes: a terminal gets one redrawn bar, anything else plain lines. */
export interface ProgressOutput {
  write(text: string): unknown;
  readonly isTTY?: boolean;
  readonly columns?: number;
}

/** Redraws of the bar at most this often: a fast cache hit must not flood the terminal. */
const REDRAW_MS = 100;

/** Progress of a multi-blob download: a bar on a TTY, one line per finished blob otherwise. */
export class ProgressReporter {
  private totalBytes = 0;
  private totalBlobs = 0;
  private doneBytes = 0;
  private doneBlobs = 0;
  private lastDraw = 0;
  private drawn = false;

  constructor(private readonly output: ProgressOutput) {}

  start(totalBlobs: number, totalBytes: number): void {
    this.totalBlobs = totalBlobs;
    this.totalBytes = totalBytes;
    if (!this.output.isTTY) this.output.write(`fetching ${totalBlobs} blobs, ${formatBytes(totalBytes)}\n`);
  }

  advance(bytes: number): void {
    this.doneBytes += bytes;
    if (this.output.isTTY && Date.now() - this.lastDraw >= REDRAW_MS) this.draw();
  }

  blobDone(digest: string, size: number, source: string): void {
    this.doneBlobs += 1;
    if (this.output.isTTY) this.draw();
    else this.output.write(`[${this.doneBlobs}/${this.totalBlobs}] ${digest.slice(0, 19)} ${formatBytes(size)} (${source})\n`);
  }

  message(text: string): void {
    if (this.output.isTTY && this.drawn) this.output.write('\r\x1b[K');
    this.output.write(`${text}\n`);
    if (this.output.isTTY && this.drawn) this.draw();
  }

  finish(): void {
    if (this.output.isTTY) {
      this.draw();
      this.output.write('\n');
    }
  }

  private draw(): void {
    this.lastDraw = Date.now();
    this.drawn = true;
    const share = this.totalBytes > 0 ? Math.min(1, this.doneBytes / this.totalBytes) : 1;
    const width = Math.max(10, Math.min(40, (this.output.columns ?? 80) - 50));
    const filled = Math.round(share * width);
    const bar = `${'#'.repeat(filled)}${'.'.repeat(width - filled)}`;
    const text = `[${bar}] ${String(Math.floor(share * 100)).padStart(3)}% ${formatBytes(this.doneBytes)}/${formatBytes(this.totalBytes)} ${this.doneBlobs}/${this.totalBlobs} blobs`;
    this.output.write(`\r\x1b[K${text}`);
  }
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
}
