// A pull-only registry on loopback that serves blobs from files on disk, optionally at a
// capped rate, for benchmarks whose blobs are too large to hold in memory as Buffers.
import { createReadStream } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';

export interface UpstreamBlobFile {
  readonly digest: string;
  readonly path: string;
  readonly size: number;
}

/** Lets `bytesPerSecond` through, measured from the first byte (a token bucket without burst). */
class RateLimit extends Transform {
  private sent = 0;
  private readonly started = Date.now();

  constructor(private readonly bytesPerSecond: number) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.sent += chunk.length;
    const dueMs = (this.sent / this.bytesPerSecond) * 1000 - (Date.now() - this.started);
    if (dueMs <= 0) {
      callback(null, chunk);
      return;
    }
    setTimeout(() => callback(null, chunk), dueMs);
  }
}

export class FileUpstream {
  private readonly blobs = new Map<string, UpstreamBlobFile>();
  private readonly sockets = new Set<Socket>();
  private server: Server | undefined;
  /** Bytes per second for blob bodies; 0 is unlimited. */
  rate = 0;
  blobGets = 0;
  url = '';

  add(blob: UpstreamBlobFile): void {
    this.blobs.set(blob.digest, blob);
  }

  async start(): Promise<void> {
    const server = createServer((request, response) => this.handle(request, response));
    server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.server = server;
    this.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private handle(request: IncomingMessage, response: ServerResponse): void {
    const path = (request.url ?? '/').split('?')[0] ?? '/';
    if (path === '/v2/' || path === '/v2') {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end('{}');
      return;
    }
    const match = /^\/v2\/.+\/blobs\/([^/]+)$/.exec(path);
    const blob = match?.[1] ? this.blobs.get(match[1]) : undefined;
    if (!blob) {
      response.writeHead(404, { 'content-type': 'application/json' });
      response.end('{"errors":[{"code":"BLOB_UNKNOWN","message":"not here"}]}');
      return;
    }
    const rangeMatch = /^bytes=(\d+)-$/.exec(request.headers.range ?? '');
    const start = rangeMatch ? Number(rangeMatch[1]) : 0;
    const headers: Record<string, string | number> = {
      'content-type': 'application/octet-stream',
      'content-length': blob.size - start,
      'docker-content-digest': blob.digest,
    };
    if (rangeMatch) headers['content-range'] = `bytes ${start}-${blob.size - 1}/${blob.size}`;
    response.writeHead(rangeMatch ? 206 : 200, headers);
    if (request.method === 'HEAD') {
      response.end();
      return;
    }
    this.blobGets += 1;
    const file = createReadStream(blob.path, { start, highWaterMark: 256 * 1024 });
    const stages = this.rate > 0 ? pipeline(file, new RateLimit(this.rate), response) : pipeline(file, response);
    // A mirror that hangs up mid-body is its own business; the socket is already gone.
    stages.catch(() => undefined);
  }
}
