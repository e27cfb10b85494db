import { chmod, mkdir, stat } from 'node:fs/promises';

/** What ensurePrivateDirectory found: the mode the directory had when it was wider than 0700. */
export interface PrivateDirectory {
  readonly tightenedFrom?: number;
}

/**
 * Creates `path` as 0700, or narrows an existing one to 0700. A cache written by an older
 * version (or under umask 022) has 0644 files in 0755 directories; making the root 0700
 * alone stops other users from traversing to any of them, without rewriting every file.
 */
export async function ensurePrivateDirectory(path: string): Promise<PrivateDirectory> {
  await mkdir(path, { recursive: true, mode: 0o700 });
  const mode = (await stat(path)).mode & 0o777;
  if ((mode & 0o077) === 0) return {};
  await chmod(path, 0o700);
  return { tightenedFrom: mode };
}
