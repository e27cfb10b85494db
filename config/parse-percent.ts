import { fail, ok, quote, type Parsed } from './parsed.js';

const PERCENT = /^(\d+(?:\.\d+)?)\s*%$/;

/** `90%` → 90. Strictly above 0 and at most 100; the `%` sign is required (`0.9` vs `90` is a classic slip). */
export function parsePercent(text: string): Parsed<number> {
  const match = PERCENT.exec(text.trim());
  if (match === null) return fail(`${quote(text)} is not a percentage (example: 90%)`);
  const percent = Number(match[1]);
  if (!(percent > 0 && percent <= 100)) return fail(`${quote(text)} must be above 0% and at most 100%`);
  return ok(percent);
}

export function formatPercent(percent: number): string {
  return `${percent}%`;
}
