// A loopback HTTP proxy in front of one target (a registry, a peer, EdgePier itself) that
// records every request and can inject faults at run time: this is how tests assert "upstream
// was hit exactly once" and simulate a cloud that answers 503, resets, hangs, cuts a body at
// 40% or corrupts it.
import { Agent, createServer, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { pollUntil } from './child-process.js';

export type Fault =
  | { readonly kind: 'status'; readonly status: number }
  /** Destroy the client socket (TCP RST) before answering. */
  | { readonly kind: 'reset' }
  /** Accept the request and never answer (until close()). */
  | { readonly kind: 'hang' }
  /** Forward, send the real headers (real Content-Length), cut the body after `fraction`. */
  | { readonly kind: 'truncate'; readonly fraction: number }
  /** Forward with every body byte inverted: same length, wrong digest. */
  | { readonly kind: 'corrupt' };

export type FaultKind = Fault['kind'];

export type FaultRule = Fault & {
  /** Only requests whose path (with query) matches. Default: all. */
  readonly path?: RegExp;
  /** Only this method (e.g. `GET`). Default: all. */
  readonly method?: string;
  /** Apply to this many matching requests, then switch off. Default: until changed. */
  readonly times?: number;
};

export interface ProxyRecord {
  readonly method: string;
  /** Path with query, as the client sent it. */
  readonly path: string;
  /** Status sent to the client; 0 when none was (reset, hang, upstream unreachable mid-way). */
  readonly status: number;
  /** Response body bytes written to the client. */
  readonly bytes: number;
  readonly fault: FaultKind | undefined;
  readonly requestHeaders: IncomingHttpHeaders;
}

export interface ProxyFilter {
  readonly method?: string;
  /** RegExp tested against path+query, or an exact path+query string. */
  readonly path?: RegExp | string;
  readonly status?: number;
}

export interface CountingProxy {
  /** `http://127.0.0.1:PORT` */
  readonly url: string;
  /** `127.0.0.1:PORT` */
  readonly host: string;
  readonly targetUrl: string;
  readonly requests: readonly ProxyRecord[];
  count(filter?: ProxyFilter | ((record: ProxyRecord) => boolean)): number;
  /** Polls (bounded) until at least `atLeast` recorded requests match. */
  waitFor(filter: ProxyFilter, options?: { atLeast?: number; deadlineMs?: number }): Promise<void>;
  reset(): void;
  setFault(rule: FaultRule | null): void;
  /** How many requests a fault was applied to since the last reset(). */
  readonly faultsInjected: number;
  /** Closes the server and destroys every open client and upstream socket. */
  close(): Promise<void>;
}

interface MutableRecord {
  method: string;
  path: string;
  status: number;
  bytes: number;
  fault: FaultKind | undefined;
  requestHeaders: IncomingHttpHeaders;
}

const HOP_BY_HOP = new Set([
  'connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'proxy-connection',
  'te', 'trailer', 'transfer-encoding', 'upgrade',
]);

function matches(record: ProxyRecord, filter: ProxyFilter | ((record: ProxyRecord) => boolean) | undefined): boolean {
  if (filter === undefined) return true;
  if (typeof filter === 'function') return filter(record);
  if (filter.method !== undefined && record.method !== filter.method.toUpperCase()) return false;
  if (filter.status !== undefined && record.status !== filter.status) return false;
  if (typeof filter.path === 'string' && record.path !== filter.path) return false;
  if (filter.path instanceof RegExp && !filter.path.test(record.path)) return false;
  return true;
}

/** Upstream response headers minus hop-by-hop ones, as a flat raw list (keeps duplicates). */
function forwardHeaders(upstream: IncomingMessage, rewriteLocation: (value: string) => string): string[] {
  const out: string[] = [];
  const raw = upstream.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i] ?? '';
    let value = raw[i + 1] ?? '';
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower)) continue;
    if (lower === 'location') value = rewriteLocation(value);
    out.push(name, value);
  }
  return out;
}

export async function startCountingProxy(targetUrl: string): Promise<CountingProxy> {
  const target = new URL(targetUrl);
  if (target.protocol !== 'http:') throw new Error(`counting proxy: only http targets (${targetUrl})`);
  const targetPort = Number(target.port || 80);
  const agent = new Agent({ keepAlive: true });
  const sockets = new Set<Socket>();
  let records: MutableRecord[] = [];
  let rule: FaultRule | null = null;
  let remaining = Infinity;
  let injected = 0;
  let proxyOrigin = '';

  const takeFault = (req: IncomingMessage): Fault | undefined => {
    if (!rule || remaining <= 0) return undefined;
    if (rule.method !== undefined && rule.method.toUpperCase() !== req.method) return undefined;
    if (rule.path && !rule.path.test(req.url ?? '')) return undefined;
    remaining -= 1;
    injected += 1;
    return rule;
  };

  const rewriteLocation = (value: string): string =>
    value.startsWith(target.origin) ? proxyOrigin + value.slice(target.origin.length) : value;

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const fault = takeFault(req);
    const record: MutableRecord = {
      method: req.method ?? 'GET',
      path: req.url ?? '/',
      status: 0,
      bytes: 0,
      fault: fault?.kind,
      requestHeaders: { ...req.headers },
    };
    records.push(record);

    if (fault?.kind === 'reset') {
      req.socket.resetAndDestroy();
      return;
    }
    if (fault?.kind === 'hang') {
      req.resume(); // drain the body, answer nothing; close() destroys the socket
      return;
    }
    if (fault?.kind === 'status') {
      req.resume();
      const body = JSON.stringify({ errors: [{ code: 'UNAVAILABLE', message: `injected fault: status ${fault.status}` }] });
      record.status = fault.status;
      record.bytes = req.method === 'HEAD' ? 0 : Buffer.byteLength(body);
      res.writeHead(fault.status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(req.method === 'HEAD' ? undefined : body);
      return;
    }

    const headers: Record<string, string | string[]> = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (value !== undefined && !HOP_BY_HOP.has(name)) headers[name] = value;
    }
    const upstreamReq = httpRequest({
      agent,
      host: target.hostname,
      port: targetPort,
      method: req.method,
      path: req.url,
      headers, // Host is kept: the registry then builds Location URLs that point back at us
    });
    req.pipe(upstreamReq);
    res.on('close', () => upstreamReq.destroy());

    upstreamReq.on('error', () => {
      if (!res.headersSent) {
        record.status = 502;
        res.writeHead(502, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ errors: [{ code: 'UNAVAILABLE', message: 'counting proxy: target unreachable' }] }));
      } else {
        res.destroy();
      }
    });

    upstreamReq.on('response', (upstream) => {
      const status = upstream.statusCode ?? 502;
      const out = forwardHeaders(upstream, rewriteLocation);
      record.status = status;
      const bodyless = req.method === 'HEAD' || status === 204 || status === 304;

      if (fault?.kind === 'truncate' && !bodyless) {
        const declared = Number(upstream.headers['content-length']);
        if (Number.isFinite(declared)) {
          const cut = Math.floor(declared * Math.min(Math.max(fault.fraction, 0), 1));
          res.writeHead(status, out);
          const finish = (): void => {
            upstream.destroy();
            res.flushHeaders();
            // Let what we wrote reach the kernel, then kill the connection mid-body.
            res.write('', () => req.socket.destroy());
          };
          if (cut === 0) {
            finish();
            return;
          }
          upstream.on('data', (chunk: Buffer) => {
            const room = cut - record.bytes;
            if (room <= 0) return;
            const part = chunk.length > room ? chunk.subarray(0, room) : chunk;
            record.bytes += part.length;
            res.write(part);
            if (record.bytes >= cut) finish();
          });
          upstream.on('end', () => {
            if (record.bytes < cut) finish();
          });
          return;
        }
        // No Content-Length (chunked): buffer it, then declare the real length and cut.
        const chunks: Buffer[] = [];
        upstream.on('data', (chunk: Buffer) => chunks.push(chunk));
        upstream.on('end', () => {
          const whole = Buffer.concat(chunks);
          const cut = Math.floor(whole.length * Math.min(Math.max(fault.fraction, 0), 1));
          res.writeHead(status, [...out, 'Content-Length', String(whole.length)]);
          record.bytes = cut;
          res.write(whole.subarray(0, cut), () => req.socket.destroy());
        });
        return;
      }

      res.writeHead(status, out);
      upstream.on('data', (chunk: Buffer) => {
        let data = chunk;
        if (fault?.kind === 'corrupt') {
          data = Buffer.allocUnsafe(chunk.length);
          for (let i = 0; i < chunk.length; i += 1) data[i] = (chunk[i] ?? 0) ^ 0xff;
        }
        record.bytes += data.length;
        if (!res.write(data)) {
          upstream.pause();
          res.once('drain', () => upstream.resume());
        }
      });
      upstream.on('end', () => res.end());
      upstream.on('error', () => res.destroy());
    });
  };

  const server = createServer(handle);
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.on('clientError', (_error, socket) => {
    // e.g. a TLS ClientHello from a client probing https first: just drop it.
    socket.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  proxyOrigin = `http://127.0.0.1:${port}`;

  let closing: Promise<void> | undefined;
  const proxy: CountingProxy = {
    url: proxyOrigin,
    host: `127.0.0.1:${port}`,
    targetUrl: target.origin,
    get requests() {
      return records;
    },
    count: (filter) => records.filter((record) => matches(record, filter)).length,
    waitFor: async (filter, options = {}) => {
      const atLeast = options.atLeast ?? 1;
      await pollUntil(
        `counting proxy: ${atLeast} request(s) matching ${JSON.stringify({ ...filter, path: String(filter.path) })}`,
        () => Promise.resolve(proxy.count(filter) >= atLeast ? true : undefined),
        { deadlineMs: options.deadlineMs ?? 10_000, intervalMs: 10 },
      );
    },
    reset() {
      records = [];
      injected = 0;
    },
    setFault(next) {
      rule = next;
      remaining = next?.times ?? Infinity;
    },
    get faultsInjected() {
      return injected;
    },
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
        agent.destroy();
      });
      return closing;
    },
  };
  return proxy;
}
