import { describeValue, fail, ok, type Parsed } from './parsed.js';

/**
 * YAML `null` (or a key with no value) for an optional path means "not set": it is what
 * `config print` writes for one, so the printed config reads back as the same config.
 */
export function nullIsUnset(value: unknown): Parsed<null> {
  return value === null ? ok(null) : fail(`expected a string, got ${describeValue(value)}`);
}
