// A pull-only registry on loopback that serves blobs from files on disk, optionally at a
// capped rate, for benchmarks whose blobs are too large to hold in memory as Buffers.
import { createReadStream } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { answeredVersionCheck, answerNotFound, blobAnswerHead } from '../test/support/registry-answers.js';
import { LoopbackServer } from '../test/support/loopback-server.js';

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

export class FileUpstream extends LoopbackServer {
  private readonly blobs = new Map<string, UpstreamBlobFile>();
  /** Bytes per second for blob bodies; 0 is unlimited. */
  rate = 0;
  blobGets = 0;

  add(blob: UpstreamBlobFile): void {
    this.blobs.set(blob.digest, blob);
  }

  async start(): Promise<void> {
    await this.listen();
  }

  protected handle(request: IncomingMessage, response: ServerResponse): void {
    const path = (request.url ?? '/').split('?')[0] ?? '/';
    if (answeredVersionCheck(path, response)) return;
    const match = /^\/v2\/.+\/blobs\/([^/]+)$/.exec(path);
    const blob = match?.[1] ? this.blobs.get(match[1]) : undefined;
    if (!blob) return answerNotFound(response, 'BLOB_UNKNOWN');
    const { status, headers, start } = blobAnswerHead(request.headers, blob.digest, blob.size);
    response.writeHead(status, headers);
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
