import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * A node's id: configured, or generated once and kept beside the cache so it survives
 * restarts (peers rank owners by id, so a changing id would reshuffle the site).
 */
export async function loadNodeId(configured: string, cacheDir: string): Promise<string> {
  if (configured) return configured;
  const file = join(cacheDir, 'node-id');
  try {
    const existing = (await readFile(file, 'utf8')).trim();
    if (/^[a-zA-Z0-9_-]{4,64}$/.test(existing)) return existing;
  } catch {
    // First start: fall through and create one.
  }
  const id = randomBytes(8).toString('hex');
  await mkdir(cacheDir, { recursive: true });
  await writeFile(file, `${id}\n`);
  return id;
}
