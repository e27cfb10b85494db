import type { Agent as HttpsAgent } from 'node:https';
import type { Readable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import type { Logger } from 'pino';
import { declaredMediaType, MAX_MANIFEST_BYTES, UPSTREAM_MANIFEST_ACCEPT } from '../oci/media-types.js';
import { RegistryError } from '../oci/registry-error.js';
import { blobFromResponse } from './blob-response.js';
import { openHttpStream, type HttpStreamResponse } from './open-http-stream.js';
import type {
  RegistryClient,
  RegistryCredentials,
  RequestOptions,
  UpstreamBlob,
  UpstreamManifest,
  UpstreamReferrers,
  UpstreamTagPage,
} from './registry-client.js';
import { BearerTokenAuth } from './bearer-token-auth.js';
import {
  RETRIED_NETWORK_ERRORS,
  RETRIED_STATUSES,
  upstreamNetworkError,
  upstreamStatusError,
  type UpstreamResource,
} from './upstream-failure.js';
import { parseWwwAuthenticate, type AuthChallenge } from './www-authenticate.js';
import { errorCode } from '../cache/blob-store.js';

export interface GotRegistryClientOptions {
  /** The registry host name requests are for (`docker.io`). */
  readonly registry: string;
  /** Base URL of the registry API (`https://registry-1.docker.io`). */
  readonly url: string;
  readonly credentials?: RegistryCredentials;
  /** Connect, first-byte and idle timeout of each upstream call. */
  readonly timeoutMs: number;
  readonly logger: Logger;
  /** Told about every round trip (metrics). Sees no headers, so never a credential. */
  readonly observer?: UpstreamObserver;
  /** Verifies upstream certificates against the configured trust (upstream-trust.ts). */
  readonly httpsAgent?: HttpsAgent;
}

/** One upstream round trip: a status when headers came back, else the error's code. */
export interface UpstreamResponseEvent {
  readonly registry: string;
  readonly method: 'GET' | 'HEAD';
  readonly status?: number;
  readonly errorCode?: string;
  /** Milliseconds from sending to the response headers (or the failure). */
  readonly ms: number;
}

export interface UpstreamObserver {
  upstreamResponse(event: UpstreamResponseEvent): void;
  /** Body bytes received from `registry` (the WAN bytes), reported as they arrive. */
  upstreamBytes?(registry: string, bytes: number): void;
}

type OpenResponse = HttpStreamResponse;

const RETRY_PAUSE_MS = 250;

/**
 * Talks to one upstream registry with got. Auth follows the distribution token spec: a 401
 * names a Bearer realm (bearer-token-auth.ts) or Basic. Credentials never reach a log line.
 */
export class GotRegistryClient implements RegistryClient {
  readonly registry: string;
  private readonly baseUrl: string;
  private readonly bearer: BearerTokenAuth;
  private basicRequired = false;

  constructor(private readonly options: GotRegistryClientOptions) {
    this.registry = options.registry;
    this.baseUrl = options.url.replace(/\/+$/, '');
    this.bearer = new BearerTokenAuth({
      registry: options.registry,
      timeoutMs: options.timeoutMs,
      logger: options.logger,
      ...(options.credentials ? { credentials: options.credentials } : {}),
      ...(options.httpsAgent ? { httpsAgent: options.httpsAgent } : {}),
    });
  }

  async fetchManifest(
    repository: string,
    reference: string,
    options: RequestOptions & { method: 'GET' | 'HEAD' },
  ): Promise<UpstreamManifest> {
    const response = await this.send(options.method, `/v2/${repository}/manifests/${reference}`, repository, 'manifest', {
      accept: UPSTREAM_MANIFEST_ACCEPT,
    }, options.signal);
    if (response.statusCode !== 200) {
      response.body.destroy();
      throw upstreamStatusError(response.statusCode, 'manifest', this.registry);
    }
    const reportedDigest = headerValue(response.headers['docker-content-digest']);
    const contentType = headerValue(response.headers['content-type'])?.split(';')[0]?.trim();
    if (options.method === 'HEAD') {
      response.body.resume();
      return {
        ...(reportedDigest ? { reportedDigest } : {}),
        mediaType: contentType ?? '',
        size: Number(response.headers['content-length'] ?? 0),
      };
    }
    const body = await readLimited(response.body, MAX_MANIFEST_BYTES, this.registry);
    return {
      ...(reportedDigest ? { reportedDigest } : {}),
      mediaType: declaredMediaType(body) ?? contentType ?? '',
      size: body.length,
      body,
    };
  }

  async fetchBlob(repository: string, digest: string, options: RequestOptions & { offset?: number } = {}): Promise<UpstreamBlob> {
    const offset = options.offset ?? 0;
    const headers: Record<string, string> = offset > 0 ? { range: `bytes=${offset}-` } : {};
    const response = await this.send('GET', `/v2/${repository}/blobs/${digest}`, repository, 'blob', headers, options.signal);
    return blobFromResponse(response, offset, `upstream ${this.registry}`, (status) => upstreamStatusError(status, 'blob', this.registry));
  }

  async headBlob(repository: string, digest: string, options: RequestOptions = {}): Promise<{ size: number }> {
    const response = await this.send('HEAD', `/v2/${repository}/blobs/${digest}`, repository, 'blob', {}, options.signal);
    response.body.resume();
    if (response.statusCode !== 200) throw upstreamStatusError(response.statusCode, 'blob', this.registry);
    return { size: Number(response.headers['content-length'] ?? 0) };
  }

  async listTags(repository: string, options: RequestOptions & { n?: number; last?: string } = {}): Promise<UpstreamTagPage> {
    const query = new URLSearchParams();
    if (options.n !== undefined) query.set('n', String(options.n));
    if (options.last !== undefined) query.set('last', options.last);
    const suffix = query.size > 0 ? `?${query.toString()}` : '';
    const response = await this.send('GET', `/v2/${repository}/tags/list${suffix}`, repository, 'tags', { accept: 'application/json' }, options.signal);
    if (response.statusCode !== 200) {
      response.body.destroy();
      throw upstreamStatusError(response.statusCode, 'tags', this.registry);
    }
    const body = await readLimited(response.body, MAX_MANIFEST_BYTES, this.registry);
    const tags = parseTagList(body);
    if (!tags) throw new RegistryError('UPSTREAM_ERROR', `upstream ${this.registry} sent a tag list that is not {"tags":[...]}`);
    const link = headerValue(response.headers.link) ?? '';
    return { tags, more: /rel="?next"?/.test(link) };
  }

  async fetchReferrers(repository: string, digest: string, options: RequestOptions & { artifactType?: string } = {}): Promise<UpstreamReferrers | undefined> {
    const suffix = options.artifactType !== undefined ? `?${new URLSearchParams({ artifactType: options.artifactType }).toString()}` : '';
    const response = await this.send('GET', `/v2/${repository}/referrers/${digest}${suffix}`, repository, 'referrers', {
      accept: 'application/vnd.oci.image.index.v1+json',
    }, options.signal);
    // The OCI spec ties "no referrers API" to a 404 (distribution 2.8 answers exactly that).
    if (response.statusCode === 404) {
      response.body.resume();
      return undefined;
    }
    if (response.statusCode !== 200) {
      response.body.destroy();
      throw upstreamStatusError(response.statusCode, 'referrers', this.registry);
    }
    const body = await readLimited(response.body, MAX_MANIFEST_BYTES, this.registry);
    const applied = headerValue(response.headers['oci-filters-applied']) ?? '';
    return { body, filtersApplied: applied.split(',').map((name) => name.trim()).filter((name) => name.length > 0) };
  }

  /**
   * One logical request: authenticates as the registry asks, and retries once what
   * upstream-failure.ts lists as transient. At most four round trips, never a loop.
   */
  private async send(
    method: 'GET' | 'HEAD',
    path: string,
    repository: string,
    what: UpstreamResource,
    headers: Record<string, string>,
    signal: AbortSignal | undefined,
  ): Promise<OpenResponse> {
    let retried = false;
    let authenticated = false;
    if (this.bearer.needsToken(repository)) {
      try {
        await this.bearer.authenticate(repository, signal);
      } catch (error) {
        throw upstreamNetworkError(error, this.registry);
      }
      authenticated = true;
    }
    for (let round = 0; round < 4; round += 1) {
      let response: OpenResponse;
      try {
        response = await this.open(method, path, { ...headers, ...this.authorization(repository) }, signal);
      } catch (error) {
        if (!retried && !signal?.aborted && RETRIED_NETWORK_ERRORS.has(errorCode(error) ?? '')) {
          retried = true;
          this.options.logger.debug({ path, reason: errorCode(error) }, 'retrying upstream request');
          await delay(RETRY_PAUSE_MS, undefined, signal ? { signal } : {}).catch(() => undefined);
          continue;
        }
        throw upstreamNetworkError(error, this.registry);
      }
      if (response.statusCode === 401 && !authenticated) {
        response.body.resume();
        const challenge = parseWwwAuthenticate(response.headers['www-authenticate']);
        if (!challenge) throw upstreamStatusError(401, what, this.registry);
        await this.authenticate(challenge, repository, what, signal);
        authenticated = true;
        continue;
      }
      if (!retried && RETRIED_STATUSES.has(response.statusCode)) {
        response.body.resume();
        retried = true;
        await delay(RETRY_PAUSE_MS, undefined, signal ? { signal } : {}).catch(() => undefined);
        continue;
      }
      return response;
    }
    throw new RegistryError('UPSTREAM_ERROR', `upstream ${this.registry} kept failing for ${path}`);
  }

  private async open(method: 'GET' | 'HEAD', path: string, headers: Record<string, string>, signal: AbortSignal | undefined): Promise<OpenResponse> {
    const timeoutMs = this.options.timeoutMs;
    const observer = this.options.observer;
    const started = performance.now();
    const event = { registry: this.registry, method };
    try {
      const response = await openHttpStream(`${this.baseUrl}${path}`, {
        method,
        headers,
        timeouts: { connectMs: timeoutMs, responseMs: timeoutMs, idleMs: timeoutMs },
        signal,
        httpsAgent: this.options.httpsAgent,
      });
      observer?.upstreamResponse({ ...event, status: response.statusCode, ms: performance.now() - started });
      // got counts the raw body as it arrives; listening does not change how the body flows.
      let counted = 0;
      response.body.on('downloadProgress', ({ transferred }: { transferred: number }) => {
        if (transferred > counted) observer?.upstreamBytes?.(this.registry, transferred - counted);
        counted = Math.max(counted, transferred);
      });
      return response;
    } catch (error) {
      observer?.upstreamResponse({ ...event, errorCode: errorCode(error) || 'ERROR', ms: performance.now() - started });
      throw error;
    }
  }

  private authorization(repository: string): Record<string, string> {
    const credentials = this.options.credentials;
    if (this.basicRequired && credentials) {
      return { authorization: `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}` };
    }
    return this.bearer.authorization(repository);
  }

  private async authenticate(challenge: AuthChallenge, repository: string, what: UpstreamResource, signal: AbortSignal | undefined): Promise<void> {
    if (challenge.scheme === 'basic') {
      if (!this.options.credentials) throw upstreamStatusError(401, what, this.registry);
      this.basicRequired = true;
      return;
    }
    try {
      await this.bearer.authenticate(repository, signal, challenge);
    } catch (error) {
      throw upstreamNetworkError(error, this.registry);
    }
  }
}

async function readLimited(stream: Readable, limit: number, registry: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    for await (const chunk of stream) {
      const buffer = chunk as Buffer;
      total += buffer.length;
      if (total > limit) {
        stream.destroy();
        throw new RegistryError('UPSTREAM_ERROR', `upstream ${registry} sent a manifest larger than ${limit} bytes`);
      }
      chunks.push(buffer);
    }
  } catch (error) {
    throw upstreamNetworkError(error, registry);
  }
  return Buffer.concat(chunks);
}

function parseTagList(body: Buffer): string[] | undefined {
  try {
    const parsed = JSON.parse(body.toString('utf8')) as { tags?: unknown };
    // distribution answers `"tags": null` for a repository whose tags were all deleted.
    if (parsed.tags === null || parsed.tags === undefined) return [];
    if (!Array.isArray(parsed.tags) || !parsed.tags.every((tag): tag is string => typeof tag === 'string')) return undefined;
    return parsed.tags;
  } catch {
    return undefined;
  }
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
