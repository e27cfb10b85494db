import type { Digest } from '../oci/digest.js';
import type { BlobWriter, StoredBlob } from './blob-store.js';
import { isDiskFull } from './disk-full.js';
import { SpoolFullError } from './spool-full.js';

export interface WriterEvents {
  /** False: the spool bound is reached; the write fails with ESPOOLFULL before touching disk. */
  admit?(bytes: number): boolean;
  written(bytes: number): void;
  committed(stored: StoredBlob, spooled: number): void;
  diskFull(error: unknown): void;
  released(spooled: number): void;
}

/** Reports a writer's growth, commit and release to the store that counts them. */
export class TrackedWriter implements BlobWriter {
  private spooled = 0;
  private released = false;
  private reportedFull = false;

  constructor(
    private readonly inner: BlobWriter,
    private readonly events: WriterEvents,
  ) {}

  get digest(): Digest {
    return this.inner.digest;
  }

  get bytesWritten(): number {
    return this.inner.bytesWritten;
  }

  async write(chunk: Buffer): Promise<void> {
    if (this.events.admit && !this.events.admit(chunk.length)) throw new SpoolFullError(this.inner.digest.value);
    try {
      await this.inner.write(chunk);
    } catch (error) {
      this.noteFull(error);
      throw error;
    }
    this.spooled += chunk.length;
    this.events.written(chunk.length);
  }

  read(position: number, length: number): Promise<Buffer> {
    return this.inner.read(position, length);
  }

  async commit(): Promise<StoredBlob> {
    let stored: StoredBlob;
    try {
      stored = await this.inner.commit();
    } catch (error) {
      this.noteFull(error);
      throw error;
    }
    this.events.committed(stored, this.spooled);
    this.spooled = 0;
    return stored;
  }

  async abort(): Promise<void> {
    try {
      await this.inner.abort();
    } finally {
      if (!this.released) {
        this.released = true;
        this.events.released(this.spooled);
        this.spooled = 0;
      }
    }
  }

  private noteFull(error: unknown): void {
    if (!isDiskFull(error) || this.reportedFull) return;
    this.reportedFull = true;
    this.events.diskFull(error);
  }
}
