import { wholeMultiple } from './decimal-multiple.js';
import { fail, ok, quote, type Parsed } from './parsed.js';
import { formatPercent, parsePercent } from './parse-percent.js';

/** Units by lower-case spelling: SI (powers of 1000) and IEC (powers of 1024). */
const UNIT_BYTES: Readonly<Record<string, number>> = {
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
  pb: 1e15,
  kib: 2 ** 10,
  mib: 2 ** 20,
  gib: 2 ** 30,
  tib: 2 ** 40,
  pib: 2 ** 50,
};
const SIZE = /^(\d+(?:\.\d+)?)\s*([a-zA-Z]*)$/;
/** Largest first, IEC before SI, for formatting. */
const FORMAT_UNITS = [
  ['PiB', 2 ** 50],
  ['PB', 1e15],
  ['TiB', 2 ** 40],
  ['TB', 1e12],
  ['GiB', 2 ** 30],
  ['GB', 1e9],
  ['MiB', 2 ** 20],
  ['MB', 1e6],
  ['KiB', 2 ** 10],
  ['kB', 1e3],
] as const;

/** `10GiB`, `500MB`, `1.5GB`, `1024` (bytes) → whole bytes. Unit case is not significant. */
export function parseByteSize(text: string): Parsed<number> {
  const match = SIZE.exec(text.trim());
  if (match === null) return fail(`${quote(text)} is not a size (examples: 1024, 500MB, 10GiB)`);
  const [, amount = '', unit = ''] = match;
  const key = unit === '' ? 'b' : unit.toLowerCase();
  // Own keys only: `1constructor` must be an unknown unit, not Object's constructor as a factor.
  const factor = Object.hasOwn(UNIT_BYTES, key) ? UNIT_BYTES[key] : undefined;
  if (factor === undefined) {
    return fail(`${quote(text)} has an unknown unit ${quote(unit)} (use B, kB, MB, GB, TB, PB, KiB, MiB, GiB, TiB or PiB)`);
  }
  const bytes = wholeMultiple(amount, factor);
  if (bytes === null) return fail(`${quote(text)} is not a whole number of bytes, or is too large`);
  return ok(bytes);
}

export function formatByteSize(bytes: number): string {
  for (const [unit, factor] of FORMAT_UNITS) {
    if (bytes >= factor && bytes % factor === 0) return `${bytes / factor}${unit}`;
  }
  return String(bytes);
}

/** The `cache-max-size` setting: the one definition, which cache/ resolves and server/ reports. */
export type CacheMaxSize =
  | { readonly kind: 'bytes'; readonly bytes: number }
  | { readonly kind: 'percent'; readonly percent: number }
  | { readonly kind: 'unlimited' };

/** A byte size, a share of the cache disk (`30%`), or 0 for no limit. */
export function parseCacheMaxSize(text: string): Parsed<CacheMaxSize> {
  if (text.trim().endsWith('%')) {
    const percent = parsePercent(text);
    return percent.ok ? ok({ kind: 'percent', percent: percent.value }) : percent;
  }
  const bytes = parseByteSize(text);
  if (!bytes.ok) return bytes;
  return ok(bytes.value === 0 ? { kind: 'unlimited' } : { kind: 'bytes', bytes: bytes.value });
}

export function formatCacheMaxSize(size: CacheMaxSize): string {
  switch (size.kind) {
    case 'unlimited':
      return '0';
    case 'bytes':
      return formatByteSize(size.bytes);
    case 'percent':
      return formatPercent(size.percent);
  }
}
