/**
 * `decimal × factor` computed exactly (BigInt), so `1.1s` is 1100 ms and `0.1GB` is 100000000
 * bytes without binary floating-point residue. Returns null when the product is not a whole
 * number or exceeds Number.MAX_SAFE_INTEGER.
 */
export function wholeMultiple(decimal: string, factor: number): number | null {
  const match = /^(\d+)(?:\.(\d+))?$/.exec(decimal);
  if (match === null) return null;
  const whole = match[1] ?? '0';
  const fraction = match[2] ?? '';
  const scale = 10n ** BigInt(fraction.length);
  const product = BigInt(whole + fraction) * BigInt(factor);
  if (product % scale !== 0n) return null;
  const result = product / scale;
  return result > BigInt(Number.MAX_SAFE_INTEGER) ? null : Number(result);
}
