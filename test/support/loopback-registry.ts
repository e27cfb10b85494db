import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { TestContext } from 'node:test';
import { answeredVersionCheck, answerNotFound, blobAnswerHead } from './registry-answers.js';
import { LoopbackServer } from './loopback-server.js';

export type BlobBehaviour =
  | { kind: 'normal' }
  | { kind: 'status'; status: number }
  /** Announces the full length, sends this share of it, then cuts the connection. */
  | { kind: 'truncate'; fraction: number }
  /** Same length, wrong bytes. */
  | { kind: 'corrupt' }
  /** Accepts the request and never answers. */
  | { kind: 'hang' }
  /** Sends the bytes slowly: `chunk` bytes every `intervalMs`. */
  | { kind: 'slow'; chunk: number; intervalMs: number }
  /** Sends this share of the body, then the rest once `until` resolves (the test decides when). */
  | { kind: 'held'; fraction: number; until: Promise<void> }
  /**
   * Sends `prefix` (the real blob, or junk of its length) then `extra` junk bytes, honouring
   * backpressure, until the client hangs up. `contentLength`: `sent` announces everything it
   * will send (contradicting the blob's size), `none` sends no length (chunked).
   */
  | { kind: 'flood'; prefix: 'blob' | 'junk'; extra: number; contentLength: 'sent' | 'none' };

export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly range?: string;
  readonly headers: IncomingHttpHeaders;
  /** The client's port: two requests with different ones came on different connections. */
  readonly remotePort?: number;
}

/**
 * A minimal pull-only registry on loopback, for tests that need exact control over what
 * upstream does (truncate at 40%, hang, lie). Every request is recorded so tests count
 * upstream hits instead of assuming them.
 */
export class LoopbackRegistry extends LoopbackServer {
  readonly requests: RecordedRequest[] = [];
  private readonly blobs = new Map<string, Buffer>();
  private readonly manifests = new Map<string, { body: Buffer; mediaType: string }>();
  private readonly tags = new Map<string, string>();
  /** Per digest (or `repo:tag`), what its next requests get, in order; then they are answered normally. */
  private readonly behaviours = new Map<string, Array<{ behaviour: BlobBehaviour; remaining: number }>>();

  addBlob(bytes: Buffer): string {
    const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    this.blobs.set(digest, bytes);
    return digest;
  }

  addManifest(repository: string, tag: string, manifest: object, mediaType = 'application/vnd.oci.image.manifest.v1+json'): { digest: string; body: Buffer } {
    const body = Buffer.from(JSON.stringify(manifest));
    const digest = `sha256:${createHash('sha256').update(body).digest('hex')}`;
    this.manifests.set(digest, { body, mediaType });
    this.tags.set(`${repository}:${tag}`, digest);
    return { digest, body };
  }

  /** Serves `body` when asked for `digest`, as a lying or corrupted upstream would. */
  forgeManifest(digest: string, body: Buffer): void {
    this.manifests.set(digest, { body, mediaType: 'application/vnd.oci.image.manifest.v1+json' });
  }

  /**
   * How GETs of `digest` are answered from now on; with `times`, only the next that many
   * (then normally again), so a test can fail one request without racing the retry.
   */
  setBehaviour(digest: string, behaviour: BlobBehaviour, times = Infinity): void {
    this.behaviours.set(digest, [{ behaviour, remaining: times }]);
  }

  /** The next GETs of `digest` get one of these each, in order, then normal answers (a fault, then another). */
  setBehaviourSequence(digest: string, behaviours: readonly BlobBehaviour[]): void {
    this.behaviours.set(digest, behaviours.map((behaviour) => ({ behaviour, remaining: 1 })));
  }

  count(filter: (request: RecordedRequest) => boolean = () => true): number {
    return this.requests.filter(filter).length;
  }

  blobGets(digest: string): number {
    return this.count((request) => request.method === 'GET' && request.path.endsWith(`/blobs/${digest}`));
  }

  /** With `tls` it serves HTTPS with that certificate (an upstream whose TLS is under test). */
  async start(port = 0, options: { tls?: { key: string; cert: string } } = {}): Promise<void> {
    await this.listen({ port, ...options });
  }

  protected handle(request: IncomingMessage, response: ServerResponse): void {
    const path = (request.url ?? '/').split('?')[0] ?? '/';
    const range = request.headers.range;
    const remotePort = request.socket.remotePort;
    this.requests.push({ method: request.method ?? 'GET', path, headers: request.headers, ...(range ? { range } : {}), ...(remotePort !== undefined ? { remotePort } : {}) });
    if (answeredVersionCheck(path, response)) return;
    const match = /^\/v2\/(.+)\/(manifests|blobs)\/([^/]+)$/.exec(path);
    if (!match) return answerNotFound(response, 'BLOB_UNKNOWN');
    const [, repository = '', kind, reference = ''] = match;
    if (kind === 'manifests') {
      // A tag can be given a status answer too (`setBehaviour('repo:tag', ...)`, e.g. 429).
      const tagBehaviour = this.behaviours.get(`${repository}:${reference}`)?.[0]?.behaviour;
      if (tagBehaviour?.kind === 'status') {
        response.writeHead(tagBehaviour.status, { 'content-type': 'application/json' });
        response.end('{"errors":[{"code":"TOOMANYREQUESTS","message":"rate limited"}]}');
        return;
      }
      const digest = reference.includes(':') ? reference : this.tags.get(`${repository}:${reference}`);
      const manifest = digest ? this.manifests.get(digest) : undefined;
      if (!manifest || !digest) return answerNotFound(response, 'BLOB_UNKNOWN');
      response.writeHead(200, {
        'content-type': manifest.mediaType,
        'content-length': manifest.body.length,
        'docker-content-digest': digest,
      });
      response.end(request.method === 'HEAD' ? undefined : manifest.body);
      return;
    }
    const blob = this.blobs.get(reference);
    if (!blob) return answerNotFound(response, 'BLOB_UNKNOWN');
    this.sendBlob(request, response, reference, blob);
  }

  private nextBehaviour(digest: string): BlobBehaviour {
    const queue = this.behaviours.get(digest);
    const next = queue?.[0];
    if (!queue || !next) return { kind: 'normal' };
    next.remaining -= 1;
    if (next.remaining <= 0) queue.shift();
    if (queue.length === 0) this.behaviours.delete(digest);
    return next.behaviour;
  }

  private sendBlob(request: IncomingMessage, response: ServerResponse, digest: string, blob: Buffer): void {
    const behaviour = this.nextBehaviour(digest);
    if (behaviour.kind === 'hang') return;
    if (behaviour.kind === 'status') {
      response.writeHead(behaviour.status, { 'content-type': 'application/json' });
      response.end('{"errors":[{"code":"UNAVAILABLE","message":"injected"}]}');
      return;
    }
    if (behaviour.kind === 'flood') {
      this.flood(response, blob, behaviour);
      return;
    }
    const body = behaviour.kind === 'corrupt' ? Buffer.from(blob.map((byte) => byte ^ 0xff)) : blob;
    const { status, headers, start } = blobAnswerHead(request.headers, digest, body.length);
    response.writeHead(status, headers);
    if (request.method === 'HEAD') {
      response.end();
      return;
    }
    const part = body.subarray(start);
    if (behaviour.kind === 'truncate') {
      response.write(part.subarray(0, Math.floor(part.length * behaviour.fraction)), () => response.destroy());
      return;
    }
    if (behaviour.kind === 'held') {
      const cut = Math.floor(part.length * behaviour.fraction);
      response.write(part.subarray(0, cut));
      void behaviour.until.then(() => {
        if (!response.destroyed) response.end(part.subarray(cut));
      });
      return;
    }
    if (behaviour.kind === 'slow') {
      // Headers at once, as a real server would: only the body is slow.
      response.flushHeaders();
      let offset = 0;
      const timer = setInterval(() => {
        if (response.destroyed || offset >= part.length) {
          clearInterval(timer);
          response.end();
          return;
        }
        response.write(part.subarray(offset, offset + behaviour.chunk));
        offset += behaviour.chunk;
      }, behaviour.intervalMs);
      response.once('close', () => clearInterval(timer));
      return;
    }
    response.end(part);
  }

  /** Bytes each flood actually handed to the socket (what a client was offered), by digest. */
  readonly floodSent = new Map<string, number>();

  private flood(response: ServerResponse, blob: Buffer, behaviour: Extract<BlobBehaviour, { kind: 'flood' }>): void {
    const digest = `sha256:${createHash('sha256').update(blob).digest('hex')}`;
    const total = blob.length + behaviour.extra;
    response.writeHead(200, {
      'content-type': 'application/octet-stream',
      ...(behaviour.contentLength === 'sent' ? { 'content-length': total } : {}),
    });
    const junk = Buffer.alloc(256 * 1024, 0x5a);
    let sent = 0;
    const pump = (): void => {
      while (sent < total && !response.destroyed) {
        const piece =
          sent < blob.length ? (behaviour.prefix === 'blob' ? blob.subarray(sent, sent + junk.length) : junk.subarray(0, Math.min(junk.length, blob.length - sent))) : junk.subarray(0, Math.min(junk.length, total - sent));
        sent += piece.length;
        this.floodSent.set(digest, sent);
        if (!response.write(piece)) {
          response.once('drain', pump);
          return;
        }
      }
      if (!response.destroyed) response.end();
    };
    pump();
  }
}

/** A LoopbackRegistry listening on any free port, which test `t` stops when it ends. */
export async function startLoopbackRegistry(t: Pick<TestContext, 'after'>): Promise<LoopbackRegistry> {
  const registry = new LoopbackRegistry();
  await registry.start();
  t.after(() => registry.stop());
  return registry;
}
