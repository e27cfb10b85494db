import { RegistryError } from './registry-error.js';

/** An inclusive byte range, already checked against the blob's size. */
export interface ByteRange {
  readonly start: number;
  readonly end: number;
}

const SINGLE_RANGE = /^bytes=(\d*)-(\d*)$/;

/**
 * Resolves a `Range` header against a blob of `size` bytes.
 * Returns undefined for "send the whole blob": no header, or several ranges (RFC 9110 lets a
 * server ignore a multi-range request, and no registry client sends one). A malformed or
 * unsatisfiable range is a 416 carrying `Content-Range: bytes * /size` so the client can retry.
 */
export function resolveRange(header: string | undefined, size: number): ByteRange | undefined {
  if (header === undefined || header === '') return undefined;
  const value = header.trim();
  if (/^bytes=[^,]*,/.test(value)) return undefined;
  const match = SINGLE_RANGE.exec(value);
  const unsatisfiable = (): RegistryError =>
    new RegistryError('RANGE_INVALID', `range not satisfiable: ${value.slice(0, 64)}`, {
      blobSize: size,
      detail: { size },
    });
  if (!match) throw unsatisfiable();
  const [, first = '', last = ''] = match;
  if (first === '' && last === '') throw unsatisfiable();
  if (first === '') {
    // Suffix range: the last N bytes.
    const length = Number(last);
    if (!Number.isSafeInteger(length) || length === 0 || size === 0) throw unsatisfiable();
    return { start: Math.max(0, size - length), end: size - 1 };
  }
  const start = Number(first);
  const end = last === '' ? size - 1 : Math.min(Number(last), size - 1);
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start >= size || start > end) throw unsatisfiable();
  return { start, end };
}

export function rangeLength(range: ByteRange): number {
  return range.end - range.start + 1;
}
