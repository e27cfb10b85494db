// The head of a blob answer from a stand-in registry, honouring the one Range form the mirror
// sends (`bytes=N-`, to resume a cut download): 206 with Content-Range from offset N, else 200.
import type { IncomingHttpHeaders } from 'node:http';

export interface BlobAnswerHead {
  readonly status: 200 | 206;
  readonly headers: Record<string, string | number>;
  /** The offset in the blob where the body starts. */
  readonly start: number;
}

export function blobAnswerHead(requestHeaders: IncomingHttpHeaders, digest: string, size: number): BlobAnswerHead {
  const rangeMatch = /^bytes=(\d+)-$/.exec(requestHeaders.range ?? '');
  // A start past the end answers an empty body instead of a negative Content-Length (which throws).
  const start = Math.min(rangeMatch ? Number(rangeMatch[1]) : 0, size);
  const headers: Record<string, string | number> = {
    'content-type': 'application/octet-stream',
    'content-length': size - start,
    'docker-content-digest': digest,
  };
  if (rangeMatch) headers['content-range'] = `bytes ${start}-${size - 1}/${size}`;
  return { status: rangeMatch ? 206 : 200, headers, start };
}
