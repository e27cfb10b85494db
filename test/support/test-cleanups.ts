import type { TestContext } from 'node:test';

/**
 * Cleanups that run when test `t` ends, the last one added first (what was started last
 * depends on what was started before it). One that fails is reported as a diagnostic and
 * the rest still run, so a broken stop never leaves a namespace or a process behind.
 */
export function cleanupsAfter(t: TestContext): (cleanup: () => Promise<unknown>) => void {
  const cleanups: (() => Promise<unknown>)[] = [];
  t.after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch((error: unknown) => t.diagnostic(`cleanup: ${String(error)}`));
  });
  return (cleanup) => {
    cleanups.push(cleanup);
  };
}
