// The benchmarks' numeric flags come from util.parseArgs as strings; a count of rounds,
// clients or MiB that is not a positive whole number is a typo to stop on, not a 0 to run with.

/** `value` (the flag `--name`) as a positive integer, or an error naming the flag. */
export function positiveIntegerFlag(name: string, value: unknown): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed <= 0) throw new Error(`--${name} must be a positive integer`);
  return parsed;
}
