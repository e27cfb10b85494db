import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import cacache from 'cacache';

export interface SpoolCleanup {
  readonly files: number;
  readonly bytes: number;
}

export interface GcReport {
  /** Spool files of downloads that never finished (a crash, a kill -9). */
  readonly staleSpools: SpoolCleanup;
  /** Content files no index entry names (a crash between rename and index write). */
  readonly orphans: { readonly files: number; readonly bytes: number };
  /** Index entries whose content file is gone. */
  readonly danglingEntries: number;
}

export interface GcOptions {
  /**
   * Spools and orphans younger than this are left alone: a node running on the same
   * directory may be writing them right now. 0 at start-up, when nothing else runs.
   */
  readonly minAgeMs: number;
  readonly now?: number;
}

/**
 * Removes leftovers of interrupted downloads from `<cache>/tmp`. Nothing there is ever
 * served (spools become content only by a rename after verification), so at start-up,
 * before anything writes, all of it can go.
 */
export async function removeStaleSpools(cacheDir: string, options: GcOptions): Promise<SpoolCleanup> {
  const tmp = join(cacheDir, 'tmp');
  const now = options.now ?? Date.now();
  let files = 0;
  let bytes = 0;
  for (const name of await readdir(tmp).catch(() => [] as string[])) {
    const path = join(tmp, name);
    const info = await stat(path).catch(() => undefined);
    if (!info || now - info.mtimeMs < options.minAgeMs) continue;
    await rm(path, { recursive: true, force: true });
    files += 1;
    bytes += info.isFile() ? info.size : 0;
  }
  return { files, bytes };
}

/** Stale spools, orphaned content and index entries without content, all removed. */
export async function collectGarbage(cacheDir: string, options: GcOptions): Promise<GcReport> {
  const now = options.now ?? Date.now();
  const staleSpools = await removeStaleSpools(cacheDir, { ...options, now });
  const entries = await cacache.ls(cacheDir);
  const referenced = new Set<string>();
  let danglingEntries = 0;
  for (const [key, entry] of Object.entries(entries)) {
    const present = await stat(entry.path).then(
      () => true,
      () => false,
    );
    if (present) {
      referenced.add(entry.path);
    } else {
      await cacache.rm.entry(cacheDir, key);
      danglingEntries += 1;
    }
  }
  const orphans = { files: 0, bytes: 0 };
  for (const path of await contentFiles(cacheDir)) {
    if (referenced.has(path)) continue;
    const info = await stat(path).catch(() => undefined);
    if (!info || now - info.mtimeMs < options.minAgeMs) continue;
    await rm(path, { force: true });
    orphans.files += 1;
    orphans.bytes += info.size;
  }
  return { staleSpools, orphans, danglingEntries };
}

/** Every file under `content-v2/<algorithm>/<xx>/<yy>/` (cacache's fixed three-level layout). */
export async function contentFiles(cacheDir: string): Promise<string[]> {
  const root = join(cacheDir, 'content-v2');
  const files: string[] = [];
  for (const algorithm of await readdir(root).catch(() => [] as string[])) {
    for (const first of await readdir(join(root, algorithm)).catch(() => [] as string[])) {
      for (const second of await readdir(join(root, algorithm, first)).catch(() => [] as string[])) {
        const directory = join(root, algorithm, first, second);
        for (const name of await readdir(directory).catch(() => [] as string[])) files.push(join(directory, name));
      }
    }
  }
  return files;
}
