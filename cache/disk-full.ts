import { hasCode } from './blob-store.js';

/**
 * True for the errors a write gets when the disk (or the user's quota) is full. Caching is
 * an optimisation: on these, the caller stops caching and keeps serving, it does not fail.
 */
export function isDiskFull(error: unknown): boolean {
  return hasCode(error, 'ENOSPC') || hasCode(error, 'EDQUOT');
}
