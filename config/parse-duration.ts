import { wholeMultiple } from './decimal-multiple.js';
import { fail, ok, quote, type Parsed } from './parsed.js';

const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 } as const;
type Unit = keyof typeof UNIT_MS;
/** One or more `<number><unit>` parts, as Go's time.ParseDuration writes them: `1m30s`. */
const DURATION = /^(?:\d+(?:\.\d+)?(?:ms|s|m|h))+$/;
const PART = /(\d+(?:\.\d+)?)(ms|s|m|h)/g;
/** setTimeout fires at once (with a warning) for delays above this; refuse them instead. */
export const MAX_TIMER_MS = 2_147_483_647;

export interface DurationBounds {
  readonly minMs?: number;
  readonly maxMs?: number;
}

/** `20ms`, `3s`, `5m`, `1h`, `1m30s`, `1.5s` → milliseconds. Bare numbers are refused: `30` is ambiguous. */
export function parseDuration(text: string, bounds: DurationBounds = {}): Parsed<number> {
  const trimmed = text.trim();
  if (/^\d+(?:\.\d+)?$/.test(trimmed)) {
    return fail(`${quote(text)} has no unit: write e.g. "${trimmed}ms" or "${trimmed}s"`);
  }
  if (!DURATION.test(trimmed)) {
    return fail(`${quote(text)} is not a duration (examples: 20ms, 3s, 5m, 1h, 1m30s)`);
  }
  let total = 0;
  for (const [, amount, unit] of trimmed.matchAll(PART)) {
    const ms = wholeMultiple(amount ?? '', UNIT_MS[unit as Unit]);
    if (ms === null) return fail(`${quote(text)} is not a whole number of milliseconds`);
    total += ms;
  }
  const { minMs = 0, maxMs = MAX_TIMER_MS } = bounds;
  if (total < minMs) return fail(`${quote(text)} is shorter than the minimum ${formatDuration(minMs)}`);
  if (total > maxMs) return fail(`${quote(text)} is longer than the maximum ${formatDuration(maxMs)}`);
  return ok(total);
}

/** The shortest exact spelling: 30000 → `30s`, 90000 → `90s`, 1500 → `1500ms`. */
export function formatDuration(ms: number): string {
  if (ms > 0) {
    for (const unit of ['h', 'm', 's'] as const) {
      if (ms % UNIT_MS[unit] === 0) return `${ms / UNIT_MS[unit]}${unit}`;
    }
  }
  return `${ms}ms`;
}
