import { STATUS_CODES, type ServerResponse } from 'node:http';
import type { Context } from 'koa';
import { OciError } from '../oci/oci-error.js';

export const API_VERSION_HEADER = { 'Docker-Distribution-API-Version': 'registry/2.0' } as const;

/** Any failure as the OCI error a client should see; unexpected ones become 500 UNKNOWN. */
export function toOciError(error: unknown): OciError {
  if (error instanceof OciError) return error;
  return new OciError('UNKNOWN', 'internal error', { cause: error });
}

export function writeOciError(ctx: Context, error: OciError): void {
  ctx.status = error.status;
  ctx.set(API_VERSION_HEADER);
  ctx.set(error.headers);
  if (error.code === 'UNSUPPORTED') ctx.set('Allow', 'GET, HEAD');
  ctx.type = 'application/json';
  ctx.body = JSON.stringify(error.toJSON());
}

/** The same JSON body as a raw HTTP response, for errors caught before koa sees a request. */
export function rawOciErrorResponse(error: OciError): string {
  const body = JSON.stringify(error.toJSON());
  const status = error.status;
  const reason = STATUS_CODES[status] ?? 'Error';
  return (
    `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
    `Docker-Distribution-API-Version: registry/2.0\r\nConnection: close\r\n\r\n${body}`
  );
}

/** The same JSON body on a plain Node response, for handlers that live outside koa. */
export function writeOciErrorResponse(response: ServerResponse, error: OciError): void {
  const body = JSON.stringify(error.toJSON());
  response.writeHead(error.status, {
    ...API_VERSION_HEADER,
    ...error.headers,
    'Content-Type': 'application/json',
    'Content-Length': String(Buffer.byteLength(body)),
  });
  response.end(body);
}
