import { copyFile, mkdir, readFile, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import writeFileAtomic from 'write-file-atomic';
import { hasCode } from '../../cache/blob-store.js';

export type WriteOutcome = { readonly kind: 'created' } | { readonly kind: 'unchanged' } | { readonly kind: 'replaced'; readonly backup: string };

/** `20250102T030405Z`: sorts by time, no characters a shell or a config loader cares about. */
export function backupStamp(now: Date): string {
  return now.toISOString().replace(/\.\d+Z$/, 'Z').replace(/[-:]/g, '');
}

/** Reads a file, or undefined when there is none. */
export async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    if (hasCode(error, 'ENOENT')) return undefined;
    throw error;
  }
}

/**
 * Writes `content` to `path` atomically (write-file-atomic, keeping the old file's mode).
 * An existing file with other content is first copied to `<path>.bak-<stamp>` (the suffix
 * keeps `.conf`/`.toml` loaders from reading the backup); identical content is left alone.
 */
export async function writeWithBackup(path: string, content: string, now: Date = new Date()): Promise<WriteOutcome> {
  const existing = await readIfExists(path);
  if (existing === content) return { kind: 'unchanged' };
  await mkdir(dirname(path), { recursive: true });
  let backup: string | undefined;
  let mode = 0o644;
  if (existing !== undefined) {
    backup = `${path}.bak-${backupStamp(now)}`;
    for (let n = 1; (await readIfExists(backup)) !== undefined; n += 1) backup = `${path}.bak-${backupStamp(now)}-${n}`;
    await copyFile(path, backup);
    mode = (await stat(path)).mode & 0o7777;
  }
  // Temp file, fsync, rename; as root it also keeps the old file's owner.
  await writeFileAtomic(path, content, { mode });
  return backup === undefined ? { kind: 'created' } : { kind: 'replaced', backup };
}
