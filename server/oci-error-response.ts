import { STATUS_CODES, type ServerResponse } from 'node:http';
import type { Context } from 'koa';
import { RegistryError, type RegistryErrorCode } from '../oci/registry-error.js';

export const API_VERSION_HEADER = { 'Docker-Distribution-API-Version': 'registry/2.0' } as const;

/**
 * The one mapping from a domain error to what a client sees. Each code has exactly one HTTP
 * status; a `Record` over the code union makes a new code a compile error until it is mapped.
 */
const STATUS_OF: Readonly<Record<RegistryErrorCode, number>> = {
  BLOB_UNKNOWN: 404,
  MANIFEST_UNKNOWN: 404,
  NAME_UNKNOWN: 404,
  NAME_INVALID: 400,
  DIGEST_INVALID: 400,
  MANIFEST_INVALID: 400,
  SIZE_INVALID: 400,
  PATH_INVALID: 400,
  HEADER_INVALID: 431,
  UNAUTHORIZED: 401,
  DENIED: 403,
  UNSUPPORTED: 405,
  RANGE_INVALID: 416,
  PAGINATION_NUMBER_INVALID: 400,
  TOOMANYREQUESTS: 429,
  PROXY_TARGET_INVALID: 400,
  PROXY_LOOP: 508,
  UPSTREAM_ERROR: 502,
  UPSTREAM_TIMEOUT: 504,
  UNAVAILABLE: 503,
  UNKNOWN: 500,
};

export interface OciErrorBody {
  errors: { code: string; message: string; detail?: unknown }[];
}

export function ociErrorStatus(error: RegistryError): number {
  return STATUS_OF[error.code];
}

/** `{"errors":[{code,message,detail}]}`, the body the distribution spec defines. */
export function ociErrorBody(error: RegistryError): OciErrorBody {
  const entry: OciErrorBody['errors'][number] = { code: error.code, message: error.message };
  if (error.detail !== undefined) entry.detail = error.detail;
  return { errors: [entry] };
}

/** The headers the error's facts call for: when to retry, the size a bad range missed, what a 405 allows. */
export function ociErrorHeaders(error: RegistryError): Record<string, string> {
  const headers: Record<string, string> = {};
  if (error.retryAfterSeconds !== undefined) headers['Retry-After'] = String(error.retryAfterSeconds);
  if (error.code === 'RANGE_INVALID' && error.blobSize !== undefined) headers['Content-Range'] = `bytes */${error.blobSize}`;
  if (error.code === 'UNSUPPORTED') headers.Allow = 'GET, HEAD';
  return headers;
}

/** Any failure as the domain error a client should see; unexpected ones become 500 UNKNOWN. */
export function toRegistryError(error: unknown): RegistryError {
  if (error instanceof RegistryError) return error;
  return new RegistryError('UNKNOWN', 'internal error', { cause: error });
}

export function writeOciError(ctx: Context, error: RegistryError): void {
  ctx.status = ociErrorStatus(error);
  ctx.set(API_VERSION_HEADER);
  ctx.set(ociErrorHeaders(error));
  ctx.type = 'application/json';
  ctx.body = JSON.stringify(ociErrorBody(error));
}

/** The same JSON body as a raw HTTP response, for errors caught before koa sees a request. */
export function rawOciErrorResponse(error: RegistryError): string {
  const body = JSON.stringify(ociErrorBody(error));
  const status = ociErrorStatus(error);
  const reason = STATUS_CODES[status] ?? 'Error';
  const extra = Object.entries(ociErrorHeaders(error))
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('');
  return (
    `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
    `Docker-Distribution-API-Version: registry/2.0\r\n${extra}Connection: close\r\n\r\n${body}`
  );
}

/** The same JSON body on a plain Node response, for handlers that live outside koa. */
export function writeOciErrorResponse(response: ServerResponse, error: RegistryError, extraHeaders: Record<string, string> = {}): void {
  const body = JSON.stringify(ociErrorBody(error));
  response.writeHead(ociErrorStatus(error), {
    ...API_VERSION_HEADER,
    ...ociErrorHeaders(error),
    ...extraHeaders,
    'Content-Type': 'application/json',
    'Content-Length': String(Buffer.byteLength(body)),
  });
  response.end(body);
}
