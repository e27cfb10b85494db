import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type PeerCertificate, type TLSSocket } from 'node:tls';

/** What a client of an HTTP proxy sees, as the tests need it. Every step has a deadline. */
const STEP_TIMEOUT_MS = 10_000;

export interface ProxyResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

/**
 * Sends `text` as-is to the proxy port and reads until the proxy closes: for malformed requests.
 * `localAddress` picks the client's source address (another 127.x address, for admission tests).
 */
export function rawExchange(port: number, text: string, options: { localAddress?: string } = {}): Promise<{ status: number; head: string; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = netConnect({ host: '127.0.0.1', port, ...(options.localAddress !== undefined ? { localAddress: options.localAddress } : {}) });
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer to ${JSON.stringify(text.slice(0, 60))} within ${STEP_TIMEOUT_MS} ms`));
    }, STEP_TIMEOUT_MS);
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('close', () => {
      clearTimeout(timer);
      const raw = Buffer.concat(chunks).toString('utf8');
      const split = raw.indexOf('\r\n\r\n');
      const head = split < 0 ? raw : raw.slice(0, split);
      resolve({ status: Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? 0), head, body: split < 0 ? '' : raw.slice(split + 4) });
    });
    socket.write(text);
  });
}

/** `CONNECT target` through the proxy; resolves with the tunnel socket, or rejects with the proxy's answer. */
export function openTunnel(proxyPort: number, target: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const connect = httpRequest({ host: '127.0.0.1', port: proxyPort, method: 'CONNECT', path: target, timeout: STEP_TIMEOUT_MS });
    connect.once('connect', (response, socket) => {
      if (response.statusCode === 200) {
        resolve(socket);
        return;
      }
      socket.destroy();
      reject(new Error(`proxy answered CONNECT ${target} with ${response.statusCode}`));
    });
    connect.once('timeout', () => connect.destroy(new Error(`CONNECT ${target} timed out`)));
    connect.once('error', reject);
    connect.end();
  });
}

/** TLS inside a CONNECT tunnel, verified against `ca` (and `servername` unless the target is an IP). */
export async function tlsThroughProxy(proxyPort: number, target: string, options: { ca?: string; servername?: string }): Promise<TLSSocket> {
  const tunnel = await openTunnel(proxyPort, target);
  return new Promise((resolve, reject) => {
    const tls = tlsConnect({
      socket: tunnel,
      ...(options.ca !== undefined ? { ca: options.ca } : {}),
      ...(options.servername !== undefined ? { servername: options.servername } : {}),
      host: target.slice(0, target.lastIndexOf(':')),
      ALPNProtocols: ['http/1.1'],
    });
    const timer = setTimeout(() => tls.destroy(new Error(`TLS through CONNECT ${target} timed out`)), STEP_TIMEOUT_MS);
    tls.once('secureConnect', () => {
      clearTimeout(timer);
      resolve(tls);
    });
    tls.once('error', (error: Error) => {
      clearTimeout(timer);
      tunnel.destroy();
      reject(error);
    });
  });
}

/** One HTTP/1.1 exchange over an established (TLS) socket; the socket is closed afterwards. */
export function requestOver(
  socket: TLSSocket,
  options: { method?: string; path: string; host: string; headers?: Record<string, string>; body?: Buffer },
): Promise<ProxyResponse> {
  return new Promise((resolve, reject) => {
    // Plain http.request over the TLS socket: with createConnection (and no agent) Node
    // speaks HTTP/1.1 on whatever stream it is handed.
    const outgoing = httpRequest(
      {
        method: options.method ?? 'GET',
        path: options.path,
        headers: { host: options.host, connection: 'close', ...options.headers },
        createConnection: () => socket,
        timeout: STEP_TIMEOUT_MS,
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks) }));
        response.on('error', reject);
      },
    );
    outgoing.once('timeout', () => outgoing.destroy(new Error(`${options.path} timed out`)));
    outgoing.once('error', reject);
    outgoing.end(options.body);
  });
}

/** A plain HTTP request in absolute form, as a client with HTTP_PROXY set sends it. */
export function requestViaHttpProxy(proxyPort: number, url: string, options: { method?: string; headers?: Record<string, string> } = {}): Promise<ProxyResponse> {
  return new Promise((resolve, reject) => {
    const outgoing = httpRequest(
      { host: '127.0.0.1', port: proxyPort, method: options.method ?? 'GET', path: url, headers: { host: new URL(url).host, ...options.headers }, timeout: STEP_TIMEOUT_MS },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks) }));
        response.on('error', reject);
      },
    );
    outgoing.once('timeout', () => outgoing.destroy(new Error(`${url} via proxy timed out`)));
    outgoing.once('error', reject);
    outgoing.end();
  });
}

export function peerCertificateOf(socket: TLSSocket): PeerCertificate {
  return socket.getPeerCertificate(true);
}
