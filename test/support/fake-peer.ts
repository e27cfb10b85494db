import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { MemoryDiscovery, type MemoryLan } from '../../discovery/memory-discovery.js';

/**
 * The misbehaving neighbours a node must survive, as real HTTP servers on a MemoryLan:
 * - good: serves the bytes it claims (with Range);
 * - lying: same length, wrong bytes;
 * - silent: accepts the connection and never answers;
 * - flaky: announces the full length and cuts the connection at 40%.
 */
export type PeerBehaviour = 'good' | 'lying' | 'silent' | 'flaky';

export interface FakePeer {
  readonly id: string;
  readonly url: string;
  readonly requests: string[];
  close(): Promise<void>;
}

export async function startFakePeer(options: { lan: MemoryLan; id: string; behaviour: PeerBehaviour; blobs: ReadonlyMap<string, Buffer> }): Promise<FakePeer> {
  const requests: string[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((request, response) => {
    requests.push(`${request.method ?? ''} ${request.url ?? ''}`);
    const digest = /\/blobs\/([^/?]+)/.exec(request.url ?? '')?.[1];
    const blob = digest ? options.blobs.get(digest) : undefined;
    if (options.behaviour === 'silent') return;
    if (!blob) {
      response.writeHead(404, { 'content-type': 'application/json' });
      response.end('{"errors":[{"code":"BLOB_UNKNOWN","message":"no"}]}');
      return;
    }
    const start = Number(/^bytes=(\d+)-$/.exec(request.headers.range ?? '')?.[1] ?? 0);
    const body = options.behaviour === 'lying' ? Buffer.from(blob.map((byte) => byte ^ 0x5a)) : blob;
    const part = body.subarray(start);
    response.writeHead(start > 0 ? 206 : 200, {
      'content-length': part.length,
      ...(start > 0 ? { 'content-range': `bytes ${start}-${blob.length - 1}/${blob.length}` } : {}),
    });
    if (options.behaviour === 'flaky') {
      response.write(part.subarray(0, Math.floor(part.length * 0.4)), () => response.destroy());
      return;
    }
    response.end(part);
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const discovery = new MemoryDiscovery({ lan: options.lan, nodeId: options.id, url });
  await discovery.start();
  for (const digest of options.blobs.keys()) discovery.advertise(digest);
  return {
    id: options.id,
    url,
    requests,
    async close() {
      await discovery.close();
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
