import type { Agent as HttpsAgent } from 'node:https';
import { openHttpStream } from '../upstream/open-http-stream.js';

/**
 * A `fetch` for StaticDiscovery's probes over the peer API's TLS-PSK: Node's fetch (undici)
 * has no PSK support. It answers status and headers only, which is all a probe reads.
 */
export function memberFetch(agent: HttpsAgent, timeoutMs: number): typeof fetch {
  return async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    const headers = Object.fromEntries(new Headers(init?.headers).entries());
    const response = await openHttpStream(url, {
      method: 'GET',
      headers,
      timeouts: { connectMs: timeoutMs, responseMs: timeoutMs, idleMs: timeoutMs },
      signal: init?.signal ?? undefined,
      httpsAgent: agent,
    });
    response.body.destroy();
    const answer = new Headers();
    for (const [name, value] of Object.entries(response.headers)) {
      if (typeof value === 'string') answer.set(name, value);
    }
    return new Response(null, { status: response.statusCode, headers: answer });
  };
}
