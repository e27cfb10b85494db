import type { IncomingHttpHeaders } from 'node:http';
import type { Agent as HttpsAgent } from 'node:https';
import type { Readable } from 'node:stream';
import got from 'got';

export interface HttpStreamResponse {
  readonly statusCode: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Readable;
}

export interface HttpStreamTimeouts {
  /** TCP (and TLS) connection set-up. */
  readonly connectMs: number;
  /** From request sent to response headers. */
  readonly responseMs: number;
  /** Longest silence on the socket while the body streams. */
  readonly idleMs: number;
}

/**
 * One HTTP request whose body is streamed, resolved when the response headers arrive.
 * Every phase has a timeout, so a silent server costs a bounded delay, never a hang.
 * Bytes are taken exactly as sent (no transfer decompression): digests are over them.
 */
export function openHttpStream(
  url: string,
  options: {
    method: 'GET' | 'HEAD' | 'POST';
    headers: Record<string, string>;
    /** A POST's whole body (the site's small member requests); GET and HEAD have none. */
    body?: string;
    timeouts: HttpStreamTimeouts;
    signal?: AbortSignal | undefined;
    /** Carries the upstream trust store (upstream-trust.ts); Node's default agent otherwise. */
    httpsAgent?: HttpsAgent | undefined;
  },
): Promise<HttpStreamResponse> {
  const { connectMs, responseMs, idleMs } = options.timeouts;
  return new Promise((resolve, reject) => {
    const request = got.stream(url, {
      method: options.method,
      ...(options.body !== undefined ? { body: options.body } : {}),
      headers: { ...options.headers, 'accept-encoding': 'identity', 'user-agent': 'edgepier' },
      decompress: false,
      throwHttpErrors: false,
      retry: { limit: 0 },
      timeout: { lookup: connectMs, connect: connectMs, secureConnect: connectMs, response: responseMs, socket: idleMs },
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.httpsAgent ? { agent: { https: options.httpsAgent } } : {}),
    });
    // Errors after the response arrived belong to whoever reads the body (pipeline or
    // iterator); this listener only keeps one that fires before they attach from crashing.
    request.on('error', () => undefined);
    // got's streams never destroy themselves (autoDestroy: false), and only destroy() takes
    // back the listener got put on `signal`. Node keeps a timeout signal that has listeners
    // alive until it fires, so without this every request read to its end stayed in memory,
    // socket state and all, for the rest of its timeout (under load: thousands of them).
    request.once('end', () => request.destroy());
    request.once('error', reject);
    request.once('response', (response: { statusCode: number; headers: IncomingHttpHeaders }) => {
      request.off('error', reject);
      resolve({ statusCode: response.statusCode, headers: response.headers, body: request });
    });
  });
}
