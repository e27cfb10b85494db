// Watching a node's download of one blob from outside the process: the cacache blob store
// spools every download into `<cache>/tmp/spool-<first 12 hex of the digest>-<random>` until
// the digest is verified, so the spool's size is how many bytes of that blob the node has
// received so far. A fault harness uses it to strike "mid-layer" on evidence, not on a timer.
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { waitUntil } from './wait-until.js';

/** Bytes spooled so far for `digest` under `cacheDir` (the largest spool: a restart may leave an old one). */
export async function spooledBytes(cacheDir: string, digest: string): Promise<number> {
  const prefix = `spool-${digest.replace(/^sha256:/, '').slice(0, 12)}-`;
  const tmp = join(cacheDir, 'tmp');
  let names: string[];
  try {
    names = await readdir(tmp);
  } catch {
    return 0;
  }
  let largest = 0;
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    // A spool can be committed (renamed away) between readdir and stat.
    const size = await stat(join(tmp, name)).then((s) => s.size, () => 0);
    largest = Math.max(largest, size);
  }
  return largest;
}

/** Waits until the node whose cache is `cacheDir` has spooled at least `bytes` of `digest`; fails after the deadline. */
export async function waitForSpooled(cacheDir: string, digest: string, bytes: number, deadlineMs: number): Promise<void> {
  await waitUntil(async () => (await spooledBytes(cacheDir, digest)) >= bytes, `${bytes} bytes of ${digest.slice(0, 19)} spooled in ${cacheDir}`, deadlineMs);
}
