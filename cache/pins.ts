import { open, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import writeFileAtomic from 'write-file-atomic';

/** One pinned image: the digests it needs (index, manifests, configs, layers) never get evicted. */
export interface Pin {
  /** The image as the user named it, normalised (`registry/repo:tag`, `repo@sha256:...`). */
  readonly image: string;
  /** The manifest (or index) digest the reference resolved to when it was pinned. */
  readonly digest: string;
  readonly digests: readonly string[];
  /** Epoch milliseconds. */
  readonly pinnedAt: number;
}

/** What the evicting store asks: which digests must stay. */
export interface PinnedDigests {
  pinnedDigests(): Promise<ReadonlySet<string>>;
}

export const PINS_FILE = 'pins.json';
/** A lock older than this was left by a process that died mid-update. */
const STALE_LOCK_MS = 30_000;
const LOCK_ATTEMPTS = 200;
const LOCK_RETRY_MS = 25;

/**
 * Pins as one JSON file in the cache directory, so the running node (which re-reads it when
 * it changes) and the CLI (which edits it) share them without talking. Writes go to a
 * temporary file that is synced and renamed over the old one: a reader sees the old pins or
 * the new ones, never half a file. Read-modify-write is serialised by an O_EXCL lock file.
 */
export class PinFile implements PinnedDigests {
  private cached: { key: string; digests: ReadonlySet<string> } | undefined;

  constructor(private readonly directory: string) {}

  get path(): string {
    return join(this.directory, PINS_FILE);
  }

  async list(): Promise<Pin[]> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
    return parsePins(text);
  }

  /** Cheap when nothing changed: one stat, then the previous answer. */
  async pinnedDigests(): Promise<ReadonlySet<string>> {
    const info = await stat(this.path).catch(() => undefined);
    const key = info ? `${info.mtimeMs}:${info.size}:${info.ino}` : 'none';
    if (this.cached?.key === key) return this.cached.digests;
    const digests = new Set((await this.list()).flatMap((pin) => pin.digests));
    this.cached = { key, digests };
    return digests;
  }

  /** Adds (or replaces, by image name) a pin. */
  async add(pin: Pin): Promise<void> {
    await this.update((pins) => [...pins.filter((known) => known.image !== pin.image), pin]);
  }

  /** Removes the pins of `image`; returns how many there were. */
  async remove(image: string): Promise<number> {
    let removed = 0;
    await this.update((pins) => {
      const kept = pins.filter((pin) => pin.image !== image);
      removed = pins.length - kept.length;
      return kept;
    });
    return removed;
  }

  private async update(change: (pins: Pin[]) => Pin[]): Promise<void> {
    const release = await this.lock();
    try {
      const next = change(await this.list());
      // Temp file, fsync, rename: a crash leaves the old pins or the new ones, never half.
      await writeFileAtomic(this.path, `${JSON.stringify({ version: 1, pins: next }, null, 2)}\n`);
    } finally {
      await release();
    }
  }

  private async lock(): Promise<() => Promise<void>> {
    const lockPath = `${this.path}.lock`;
    for (let attempt = 0; attempt < LOCK_ATTEMPTS; attempt += 1) {
      try {
        const handle = await open(lockPath, 'wx');
        await handle.close();
        return () => rm(lockPath, { force: true });
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
        const info = await stat(lockPath).catch(() => undefined);
        if (info && Date.now() - info.mtimeMs > STALE_LOCK_MS) await rm(lockPath, { force: true });
        await new Promise((resolve) => setTimeout(resolve, LOCK_RETRY_MS));
      }
    }
    throw new Error(`${lockPath} stayed locked for ${(LOCK_ATTEMPTS * LOCK_RETRY_MS) / 1000} s; remove it if no edgepier command is running`);
  }
}

function parsePins(text: string): Pin[] {
  const parsed: unknown = JSON.parse(text);
  if (typeof parsed !== 'object' || parsed === null || !('pins' in parsed) || !Array.isArray(parsed.pins)) {
    throw new Error('pins.json: expected {"version": 1, "pins": [...]}');
  }
  const pins: Pin[] = [];
  for (const entry of parsed.pins as unknown[]) {
    if (typeof entry !== 'object' || entry === null) continue;
    const { image, digest, digests, pinnedAt } = entry as Record<string, unknown>;
    if (typeof image !== 'string' || typeof digest !== 'string' || !Array.isArray(digests) || typeof pinnedAt !== 'number') continue;
    pins.push({ image, digest, digests: digests.filter((item): item is string => typeof item === 'string'), pinnedAt });
  }
  return pins;
}
