import { fail, ok, quote, type Parsed } from './parsed.js';

const COUNT = /^\d+$/;

/** A whole number from 1 to `max` (`1024`), for limits such as connection counts. */
export function parseCount(text: string, max: number): Parsed<number> {
  const trimmed = text.trim();
  if (!COUNT.test(trimmed)) return fail(`${quote(text)} is not a whole number (example: 1024)`);
  const count = Number(trimmed);
  if (count < 1 || count > max) return fail(`${quote(text)} must be from 1 to ${max}`);
  return ok(count);
}
