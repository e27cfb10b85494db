// Shared settings for the property-based tests (fast-check): a fixed seed, so a failure
// reproduces, and a bounded run count, so the unit tier stays fast. fast-check prints the seed,
// the shrunk counterexample and the path on failure; EDGEPIER_PROPERTY_SEED and
// EDGEPIER_PROPERTY_RUNS let one explore further (`EDGEPIER_PROPERTY_RUNS=100000 node scripts/run-tests.mjs property-`).
import fc from 'fast-check';

const DEFAULT_SEED = 15_015;
const DEFAULT_RUNS = 2_000;

export function propertyParameters<T>(runs = DEFAULT_RUNS): fc.Parameters<T> {
  const seed = Number(process.env.EDGEPIER_PROPERTY_SEED ?? DEFAULT_SEED);
  const numRuns = Number(process.env.EDGEPIER_PROPERTY_RUNS ?? runs);
  return { seed, numRuns, endOnFailure: false };
}

/** Runs `property` with the shared seed and run count; throws fast-check's report (seed included). */
export function check<Ts extends [unknown, ...unknown[]]>(property: fc.IPropertyWithHooks<Ts>, runs?: number): void {
  fc.assert(property, propertyParameters<Ts>(runs));
}

/**
 * Calls `action`; returns what it returned, or the error when it threw one that `isDomain`
 * accepts. Any other throw (TypeError, RangeError, a bare Error) fails the property with it.
 */
export function domainOutcome<T>(action: () => T, isDomain: (error: unknown) => boolean): { value: T } | { error: unknown } {
  try {
    return { value: action() };
  } catch (error) {
    if (isDomain(error)) return { error };
    throw error;
  }
}

/**
 * Text that reaches deep into a parser: arbitrary unicode, and strings built from the tokens
 * its grammar cares about (so a digest parser meets `sha256:` followed by hex-ish text, not only noise).
 */
export function textFrom(tokens: readonly string[], maxLength = 40): fc.Arbitrary<string> {
  return fc.oneof(
    fc.string({ unit: 'binary', maxLength }),
    fc.string({ unit: 'grapheme-ascii', maxLength }),
    fc.array(fc.constantFrom(...tokens), { maxLength }).map((parts) => parts.join('')),
  );
}
