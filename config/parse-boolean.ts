import { fail, ok, quote, type Parsed } from './parsed.js';

/** `true`/`false`/`1`/`0`, any case. Nothing else: `yes`, `on` and friends are refused, not guessed. */
export function parseBoolean(text: string): Parsed<boolean> {
  switch (text.trim().toLowerCase()) {
    case 'true':
    case '1':
      return ok(true);
    case 'false':
    case '0':
      return ok(false);
    default:
      return fail(`${quote(text)} is not a boolean (use true, false, 1 or 0)`);
  }
}
