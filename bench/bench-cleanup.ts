/**
 * What a benchmark set up (namespaces, processes, temp dirs), undone once in reverse order:
 * when the run ends, or on SIGINT/SIGTERM (then exit 130), so nothing outlives an interrupted
 * run. One per benchmark process.
 */
export interface BenchCleanup {
  add(step: () => Promise<unknown>): void;
  run(): Promise<void>;
}

export function benchCleanup(): BenchCleanup {
  const steps: (() => Promise<unknown>)[] = [];
  let running: Promise<void> | undefined;
  const run = (): Promise<void> => {
    running ??= (async () => {
      for (const step of steps.reverse()) await step().catch((error: unknown) => console.error(`cleanup: ${String(error)}`));
    })();
    return running;
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      console.error(`\n${signal}: cleaning up`);
      void run().finally(() => process.exit(130));
    });
  }
  return { add: (step) => steps.push(step), run };
}

/** `[name HH:MM:SS] message` on stdout: a benchmark's progress lines. */
export function benchLog(name: string): (message: string) => void {
  return (message) => console.log(`[${name} ${new Date().toISOString().slice(11, 19)}] ${message}`);
}
