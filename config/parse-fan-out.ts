import { fail, ok, quote, type Parsed } from './parsed.js';

/** More children than this per node is the owner-only layout in all but name: say `unbounded`. */
const MAX_FAN_OUT = 64;

/** `2` → 2; `unbounded` → Infinity (every node fetches straight through the digest's owner). */
export function parseFanOut(text: string): Parsed<number> {
  const trimmed = text.trim();
  if (trimmed === 'unbounded') return ok(Infinity);
  if (!/^\d+$/.test(trimmed)) return fail(`${quote(text)} is not a fan-out (a whole number 1-${MAX_FAN_OUT}, or unbounded)`);
  const value = Number(trimmed);
  if (value < 1 || value > MAX_FAN_OUT) return fail(`${quote(text)} must be 1-${MAX_FAN_OUT}, or unbounded`);
  return ok(value);
}

export function formatFanOut(value: number): string {
  return value === Infinity ? 'unbounded' : String(value);
}
