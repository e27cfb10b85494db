import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { errorCode } from '../cache/blob-store.js';

/** One readiness condition: ok, or why not. */
export interface ReadinessCheck {
  readonly name: string;
  check(): Promise<{ ok: boolean; detail?: string }>;
}

export interface ReadinessReport {
  readonly ready: boolean;
  readonly checks: ReadonlyArray<{ name: string; ok: boolean; detail?: string }>;
}

/** A check that is as true as a flag the composition root flips (listening, discovery started). */
export function flagCheck(name: string, isSet: () => boolean, whenUnset: string): ReadinessCheck {
  return {
    name,
    check: () => Promise.resolve(isSet() ? { ok: true } : { ok: false, detail: whenUnset }),
  };
}

/** The cache directory exists and this process may write to it (a read-only mount fails). */
export function writableDirectoryCheck(name: string, directory: string): ReadinessCheck {
  return {
    name,
    async check() {
      try {
        await access(directory, constants.W_OK);
        return { ok: true };
      } catch (error) {
        const code = errorCode(error) ?? 'error';
        return { ok: false, detail: `${directory} is not writable (${code})` };
      }
    },
  };
}

/** Runs every check (all of them, so the report names every problem at once). */
export async function checkReadiness(checks: readonly ReadinessCheck[]): Promise<ReadinessReport> {
  const results = await Promise.all(
    checks.map(async (entry) => {
      const result = await entry.check().catch((error: unknown) => ({ ok: false, detail: error instanceof Error ? error.message : String(error) }));
      return { name: entry.name, ...result };
    }),
  );
  return { ready: results.every((result) => result.ok), checks: results };
}
