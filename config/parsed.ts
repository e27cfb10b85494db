/**
 * The outcome of parsing one setting's value: the value, or every reason it was refused.
 * Messages describe the value, never the setting: the loader adds which setting and source.
 */
export type Parsed<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly errors: readonly string[] };

export function ok<T>(value: T): Parsed<T> {
  return { ok: true, value };
}

export function fail(...errors: string[]): Parsed<never> {
  return { ok: false, errors };
}

/** Quotes user text for a message, shortened so a pasted blob cannot flood the terminal. */
export function quote(text: string): string {
  const short = text.length > 80 ? `${text.slice(0, 80)}…` : text;
  return JSON.stringify(short);
}

/** Names the type of a YAML/JSON value for "expected X, got Y" messages. */
export function describeValue(value: unknown): string {
  if (value === null || value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') {
    return `the ${typeof value} ${quote(String(value))}`;
  }
  return `a ${typeof value}`;
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
