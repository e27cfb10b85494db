import { mkdir, statfs } from 'node:fs/promises';
import type { CacheMaxSize } from '../config/parse-size.js';

/** Eviction starts above `maxBytes` and goes down to `lowWaterBytes`. */
export interface CacheBudget {
  readonly maxBytes: number;
  readonly lowWaterBytes: number;
}

/**
 * Turns the setting into bytes. A share of the disk is taken of the filesystem that holds
 * the cache directory, once at start (disks do not change size under a running node).
 */
export async function resolveCacheBudget(maxSize: CacheMaxSize, lowWaterPercent: number, cacheDir: string): Promise<CacheBudget | undefined> {
  if (maxSize.kind === 'unlimited') return undefined;
  let maxBytes = maxSize.kind === 'bytes' ? maxSize.bytes : 0;
  if (maxSize.kind === 'percent') {
    await mkdir(cacheDir, { recursive: true });
    const disk = await statfs(cacheDir);
    maxBytes = Math.floor((disk.blocks * disk.bsize * maxSize.percent) / 100);
  }
  return { maxBytes, lowWaterBytes: Math.floor((maxBytes * lowWaterPercent) / 100) };
}
