import { RegistryError } from '../oci/registry-error.js';
import type { HttpStreamResponse } from './open-http-stream.js';
import type { UpstreamBlob } from './registry-client.js';

/**
 * Reads a blob GET's answer (200 whole, or 206 from `offset`) into an UpstreamBlob.
 * Anything else is handed to `onStatus` to be turned into the right error.
 */
export function blobFromResponse(
  response: HttpStreamResponse,
  offset: number,
  who: string,
  onStatus: (status: number) => Error,
): UpstreamBlob {
  if (response.statusCode === 206) {
    const header: string = response.headers['content-range'] ?? '';
    const [, first, last, total] = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(header) ?? [];
    const start = byteCount(first);
    const end = byteCount(last);
    const size = byteCount(total);
    // Numbers from the network: a range that is not inside the size it states is as unusable
    // as one we did not ask for, and a size past 2^53 would make every later check a lie.
    if (start !== offset || end === undefined || size === undefined || end < start || end >= size) {
      response.body.destroy();
      throw new RegistryError('UPSTREAM_ERROR', `${who} answered a range we did not ask for`);
    }
    return { size, offset, stream: response.body };
  }
  if (response.statusCode !== 200) {
    response.body.destroy();
    throw onStatus(response.statusCode);
  }
  // A length that is no byte count is as good as none: the digest check still decides.
  const size = byteCount(response.headers['content-length']);
  return { ...(size !== undefined ? { size } : {}), offset: 0, stream: response.body };
}

/** A decimal byte count a Number holds exactly, else undefined. */
function byteCount(text: string | undefined): number | undefined {
  if (text === undefined || !/^\d{1,16}$/.test(text)) return undefined;
  const value = Number(text);
  return Number.isSafeInteger(value) ? value : undefined;
}
