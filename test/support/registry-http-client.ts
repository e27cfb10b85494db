// A deliberately small OCI distribution client for tests: answers Basic and Bearer challenges
// (caching one token per scope) and reads manifests and blobs as raw bytes. It is the "truth"
// side of byte-identity assertions: what the registry really stores, hashed here.
import { sha256Digest } from './sha256.js';

/** Everything a test needs to talk to a registry (a RunningRegistry fits). */
export interface RegistryEndpoint {
  /** `http://127.0.0.1:PORT` */
  readonly url: string;
  readonly username?: string;
  readonly password?: string;
}

/** Accept header that lets distribution 2.8 return any manifest type unchanged. Without the
 * OCI types it answers 404 for OCI manifests; without the Docker v2 type it converts Docker
 * schema 2 manifests to schema 1. */
export const MANIFEST_ACCEPT = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ');

export interface FetchedManifest {
  readonly bytes: Buffer;
  readonly mediaType: string;
  /** sha256 of the bytes (computed here, not trusted from headers). */
  readonly digest: string;
  /** What the registry claimed in Docker-Content-Digest. */
  readonly headerDigest: string | undefined;
}

interface Challenge {
  readonly scheme: string;
  readonly params: Readonly<Record<string, string>>;
}

function parseChallenge(header: string | null): Challenge | undefined {
  if (!header) return undefined;
  const match = /^(\w+)\s*(.*)$/s.exec(header.trim());
  if (!match?.[1]) return undefined;
  const params: Record<string, string> = {};
  for (const param of (match[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)) {
    if (param[1] !== undefined && param[2] !== undefined) params[param[1]] = param[2];
  }
  return { scheme: match[1].toLowerCase(), params };
}

export class RegistryHttpClient {
  private readonly tokens = new Map<string, string>();
  /** Set once the registry asked for Basic: later requests send it up front. */
  private basicKnown = false;

  constructor(private readonly endpoint: RegistryEndpoint) {}

  private basicHeader(): string | undefined {
    const { username, password } = this.endpoint;
    if (username === undefined) return undefined;
    return `Basic ${Buffer.from(`${username}:${password ?? ''}`).toString('base64')}`;
  }

  private async token(challenge: Challenge): Promise<string> {
    const realm = challenge.params.realm;
    if (!realm) throw new Error('Bearer challenge without realm');
    const url = new URL(realm);
    if (challenge.params.service) url.searchParams.set('service', challenge.params.service);
    for (const scope of (challenge.params.scope ?? '').split(' ').filter((s) => s.length > 0)) {
      url.searchParams.append('scope', scope);
    }
    const key = url.toString();
    const cached = this.tokens.get(key);
    if (cached) return cached;
    const basic = this.basicHeader();
    const response = await fetch(url, {
      headers: basic ? { authorization: basic } : {},
      signal: AbortSignal.timeout(10_000),
    });
    if (!response.ok) throw new Error(`token request ${url.pathname} failed: ${response.status}`);
    const body = (await response.json()) as { token?: string; access_token?: string };
    const token = body.token ?? body.access_token;
    if (!token) throw new Error('token response without token');
    this.tokens.set(key, token);
    return token;
  }

  /** fetch() against the registry, answering one auth challenge if needed. */
  async fetch(path: string, init: { method?: string; headers?: Record<string, string>; timeoutMs?: number } = {}): Promise<Response> {
    const url = new URL(path, this.endpoint.url);
    const send = (authorization?: string): Promise<Response> =>
      fetch(url, {
        method: init.method ?? 'GET',
        headers: { ...init.headers, ...(authorization ? { authorization } : {}) },
        signal: AbortSignal.timeout(init.timeoutMs ?? 30_000),
      });
    const basic = this.basicHeader();
    if (this.basicKnown && basic) return send(basic);
    const first = await send();
    if (first.status !== 401) return first;
    const challenge = parseChallenge(first.headers.get('www-authenticate'));
    await first.body?.cancel();
    if (challenge?.scheme === 'basic') {
      if (!basic) return first;
      this.basicKnown = true;
      return send(basic);
    }
    if (challenge?.scheme === 'bearer') return send(`Bearer ${await this.token(challenge)}`);
    return first;
  }

  async getManifest(repository: string, reference: string): Promise<FetchedManifest> {
    const response = await this.fetch(`/v2/${repository}/manifests/${reference}`, {
      headers: { accept: MANIFEST_ACCEPT },
    });
    if (!response.ok) {
      throw new Error(`GET manifest ${repository}:${reference}: ${response.status} ${await response.text()}`);
    }
    const bytes = Buffer.from(await response.arrayBuffer());
    return {
      bytes,
      mediaType: response.headers.get('content-type') ?? '',
      digest: sha256Digest(bytes),
      headerDigest: response.headers.get('docker-content-digest') ?? undefined,
    };
  }

  async getBlob(repository: string, digest: string): Promise<Buffer> {
    const response = await this.fetch(`/v2/${repository}/blobs/${digest}`);
    if (!response.ok) throw new Error(`GET blob ${repository}@${digest}: ${response.status}`);
    return Buffer.from(await response.arrayBuffer());
  }

  /** Content-Length from a HEAD, or undefined on 404. */
  async headBlob(repository: string, digest: string): Promise<number | undefined> {
    const response = await this.fetch(`/v2/${repository}/blobs/${digest}`, { method: 'HEAD' });
    if (response.status === 404) return undefined;
    if (!response.ok) throw new Error(`HEAD blob ${repository}@${digest}: ${response.status}`);
    return Number(response.headers.get('content-length'));
  }
}
