import { fail, ok, quote, type Parsed } from './parsed.js';
import { didYouMean } from './suggest.js';

/** A parser accepting exactly one of `choices` (case-sensitive, as written in help). */
export function choiceParser<const T extends string>(choices: readonly T[]): (text: string) => Parsed<T> {
  return (text) => {
    const trimmed = text.trim();
    const found = choices.find((choice) => choice === trimmed);
    if (found !== undefined) return ok(found);
    return fail(`${quote(text)} is not one of ${choices.join(', ')}${didYouMean(trimmed, choices)}`);
  };
}
