// The answers every stand-in registry gives the same way (LoopbackRegistry and the benches'
// file and soak upstreams): the `/v2/` version check a client sends first, a 404 in OCI
// error JSON, and the head of a blob answer honouring the one Range form the mirror sends.
import type { IncomingHttpHeaders, ServerResponse } from 'node:http';

/** Answers the API version check (`GET /v2/`) when `path` is one; false otherwise. */
export function answeredVersionCheck(path: string, response: ServerResponse): boolean {
  if (path !== '/v2/' && path !== '/v2') return false;
  response.writeHead(200, { 'content-type': 'application/json' });
  response.end('{}');
  return true;
}

/** A 404 with the OCI error `code` (BLOB_UNKNOWN, MANIFEST_UNKNOWN). */
export function answerNotFound(response: ServerResponse, code: string): void {
  response.writeHead(404, { 'content-type': 'application/json' });
  response.end(JSON.stringify({ errors: [{ code, message: 'not here' }] }));
}

export interface BlobAnswerHead {
  readonly status: 200 | 206;
  readonly headers: Record<string, string | number>;
  /** The offset in the blob where the body starts. */
  readonly start: number;
}

/** Status and headers of a blob answer: 206 from offset N for `Range: bytes=N-` (a resumed download), else 200. */
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
