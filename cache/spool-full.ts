import { isDiskFull } from './disk-full.js';
import { hasCode } from './blob-store.js';

/** Coded like the fs errors: a write past the spool bound (budgeted-blob-store.ts `maxSpoolBytes`). */
export class SpoolFullError extends Error {
  readonly code = 'ESPOOLFULL';

  constructor(digest: string) {
    super(`spool bound reached: ${digest} is not cached`);
    this.name = 'SpoolFullError';
  }
}

/**
 * The bytes cannot be cached right now: the disk is full, or the spools together reached
 * their bound. Either way the caller serves what it has uncached instead of failing.
 */
export function isCannotSpool(error: unknown): boolean {
  return isDiskFull(error) || hasCode(error, 'ESPOOLFULL');
}
