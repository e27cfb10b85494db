// A loopback upstream that has what distribution 2.8 lacks: the OCI 1.1 referrers API
// (listing manifests by their `subject`, with the artifactType filter) and a tag list that
// honours `n` and `last` with a Link header. Pushes are accepted so tests can attach
// artifacts with the helpers of oci-push.ts. Every request is recorded, to count hits.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { LoopbackServer } from './loopback-server.js';
import { sha256Digest } from './sha256.js';

interface StoredManifest {
  readonly body: Buffer;
  readonly mediaType: string;
}

export class ReferrersRegistry extends LoopbackServer {
  readonly requests: Array<{ method: string; path: string; query: string }> = [];
  private readonly blobs = new Map<string, Buffer>();
  private readonly manifests = new Map<string, StoredManifest>();
  private readonly tags = new Map<string, string>();
  private readonly uploads = new Map<string, Buffer[]>();

  count(filter: (request: { method: string; path: string; query: string }) => boolean): number {
    return this.requests.filter(filter).length;
  }

  async start(): Promise<void> {
    await this.listen();
  }

  protected handle(request: IncomingMessage, response: ServerResponse): void {
    this.answer(request, response).catch((error: unknown) => {
      response.destroy(error instanceof Error ? error : new Error(String(error)));
    });
  }

  private async answer(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? '/', 'http://registry');
    const method = request.method ?? 'GET';
    this.requests.push({ method, path: url.pathname, query: url.search });
    if (url.pathname === '/v2/' || url.pathname === '/v2') return send(response, 200, {});
    const upload = /^\/v2\/(.+)\/blobs\/uploads\/([a-z0-9]*)$/.exec(url.pathname);
    if (upload) return this.handleUpload(request, response, url, upload[2] ?? '');
    const match = /^\/v2\/(.+)\/(manifests|blobs|referrers|tags)\/([^/]+)$/.exec(url.pathname);
    if (!match) return send(response, 404, { errors: [{ code: 'NAME_UNKNOWN', message: 'no such endpoint' }] });
    const [, repository = '', kind, reference = ''] = match;
    if (kind === 'tags' && reference === 'list') return this.tagList(response, repository, url);
    if (kind === 'referrers') return this.referrers(response, reference, url);
    if (kind === 'blobs') {
      const blob = this.blobs.get(reference);
      if (!blob) return send(response, 404, { errors: [{ code: 'BLOB_UNKNOWN', message: 'not here' }] });
      response.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': blob.length, 'docker-content-digest': reference });
      response.end(method === 'HEAD' ? undefined : blob);
      return;
    }
    if (method === 'PUT') {
      const body = await readAll(request);
      const digest = sha256Digest(body);
      this.manifests.set(digest, { body, mediaType: request.headers['content-type'] ?? '' });
      if (!reference.includes(':')) this.tags.set(`${repository}:${reference}`, digest);
      response.writeHead(201, { location: `/v2/${repository}/manifests/${digest}`, 'docker-content-digest': digest });
      response.end();
      return;
    }
    const digest = reference.includes(':') ? reference : this.tags.get(`${repository}:${reference}`);
    const manifest = digest ? this.manifests.get(digest) : undefined;
    if (!manifest || !digest) return send(response, 404, { errors: [{ code: 'MANIFEST_UNKNOWN', message: 'not here' }] });
    response.writeHead(200, { 'content-type': manifest.mediaType, 'content-length': manifest.body.length, 'docker-content-digest': digest });
    response.end(method === 'HEAD' ? undefined : manifest.body);
  }

  private async handleUpload(request: IncomingMessage, response: ServerResponse, url: URL, id: string): Promise<void> {
    if (request.method === 'POST') {
      const session = String(this.uploads.size + 1);
      this.uploads.set(session, []);
      response.writeHead(202, { location: `${url.pathname}${session}` });
      response.end();
      return;
    }
    const body = await readAll(request);
    const digest = url.searchParams.get('digest') ?? '';
    if (sha256Digest(body) !== digest) return send(response, 400, { errors: [{ code: 'DIGEST_INVALID', message: 'mismatch' }] });
    this.uploads.delete(id);
    this.blobs.set(digest, body);
    response.writeHead(201, { location: url.pathname, 'docker-content-digest': digest });
    response.end();
  }

  private tagList(response: ServerResponse, repository: string, url: URL): void {
    const prefix = `${repository}:`;
    const last = url.searchParams.get('last');
    const n = url.searchParams.get('n');
    const all = [...this.tags.keys()].filter((key) => key.startsWith(prefix)).map((key) => key.slice(prefix.length)).sort();
    if (all.length === 0) return send(response, 404, { errors: [{ code: 'NAME_UNKNOWN', message: 'repository name not known to registry' }] });
    const after = last === null ? all : all.filter((tag) => tag > last);
    const page = n === null ? after : after.slice(0, Number(n));
    const headers: Record<string, string> = {};
    const lastTag = page.at(-1);
    if (page.length < after.length && lastTag !== undefined) headers.link = `</v2/${repository}/tags/list?n=${n ?? ''}&last=${lastTag}>; rel="next"`;
    send(response, 200, { name: repository, tags: page }, headers);
  }

  private referrers(response: ServerResponse, subject: string, url: URL): void {
    const artifactType = url.searchParams.get('artifactType');
    const manifests = [];
    for (const [digest, stored] of this.manifests) {
      const parsed = JSON.parse(stored.body.toString('utf8')) as { subject?: { digest?: string }; artifactType?: string; config?: { mediaType?: string }; annotations?: unknown };
      if (parsed.subject?.digest !== subject) continue;
      const type = parsed.artifactType ?? parsed.config?.mediaType;
      if (artifactType !== null && type !== artifactType) continue;
      manifests.push({ mediaType: stored.mediaType, digest, size: stored.body.length, artifactType: type, ...(parsed.annotations ? { annotations: parsed.annotations } : {}) });
    }
    const headers: Record<string, string> = artifactType !== null ? { 'oci-filters-applied': 'artifactType' } : {};
    send(response, 200, { schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests }, { ...headers, 'content-type': 'application/vnd.oci.image.index.v1+json' });
  }
}

function send(response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  response.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  response.end(text);
}

async function readAll(request: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
