import { OciError } from '../oci/oci-error.js';
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
    const contentRange = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(header);
    if (!contentRange || Number(contentRange[1]) !== offset) {
      response.body.destroy();
      throw new OciError('UPSTREAM_ERROR', `${who} answered a range we did not ask for`);
    }
    return { size: Number(contentRange[3]), offset, stream: response.body };
  }
  if (response.statusCode !== 200) {
    response.body.destroy();
    throw onStatus(response.statusCode);
  }
  // Only a plain decimal length is a size; anything else is as good as none (the download then
  // relies on the manifest's size or its spool bound, and the digest check decides).
  const length = response.headers['content-length'];
  return { ...(length !== undefined && /^\d{1,15}$/.test(length) ? { size: Number(length) } : {}), offset: 0, stream: response.body };
}
