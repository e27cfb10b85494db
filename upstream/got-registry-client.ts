import type { Agent as HttpsAgent } from 'node:https';
import type { Readable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import got from 'got';
import type { Logger } from 'pino';
import { declaredMediaType, MAX_MANIFEST_BYTES, UPSTREAM_MANIFEST_ACCEPT } from '../oci/media-types.js';
import { OciError } from '../oci/oci-error.js';
import { blobFromResponse } from './blob-response.js';
import { openHttpStream, type HttpStreamResponse } from './open-http-stream.js';
import type { RegistryClient, RegistryCredentials, RequestOptions, UpstreamBlob, UpstreamManifest } from './registry-client.js';
import { DEFAULT_TOKEN_LIFETIME_S, TokenCache } from './token-cache.js';
import {
  RETRIED_NETWORK_ERRORS,
  RETRIED_STATUSES,
  upstreamNetworkError,
  upstreamStatusError,
} from './upstream-failure.js';
import { parseWwwAuthenticate, type AuthChallenge } from './www-authenticate.js';

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
 * names a Bearer realm (or Basic); tokens are fetched once per repository scope, shared by
 * concurrent requests, and reused until they expire. Credentials never reach a log line.
 */
export class GotRegistryClient implements RegistryClient {
  readonly registry: string;
  private readonly baseUrl: string;
  private readonly tokens = new TokenCache();
  private readonly tokenRequests = new Map<string, Promise<void>>();
  /** The Bearer realm learned from the first challenge, so later scopes skip the 401 round trip. */
  private bearerChallenge: AuthChallenge | undefined;
  private basicRequired = false;

  constructor(private readonly options: GotRegistryClientOptions) {
    this.registry = options.registry;
    this.baseUrl = options.url.replace(/\/+$/, '');
  }

  async fetchManifest(
    repository: string,
    reference: string,
    options: RequestOptions & { method: 'GET' | 'HEAD' },
  ): Promise<UpstreamManifest> {
    const response = await this.send(options.method, `/v2/${repository}/manifests/${reference}`, repository, {
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
    const response = await this.send('GET', `/v2/${repository}/blobs/${digest}`, repository, headers, options.signal);
    return blobFromResponse(response, offset, `upstream ${this.registry}`, (status) => upstreamStatusError(status, 'blob', this.registry));
  }

  async headBlob(repository: string, digest: string, options: RequestOptions = {}): Promise<{ size: number }> {
    const response = await this.send('HEAD', `/v2/${repository}/blobs/${digest}`, repository, {}, options.signal);
    response.body.resume();
    if (response.statusCode !== 200) throw upstreamStatusError(response.statusCode, 'blob', this.registry);
    return { size: Number(response.headers['content-length'] ?? 0) };
  }

  /**
   * One logical request: authenticates as the registry asks, and retries once what
   * upstream-failure.ts lists as transient. At most four round trips, never a loop.
   */
  private async send(
    method: 'GET' | 'HEAD',
    path: string,
    repository: string,
    headers: Record<string, string>,
    signal: AbortSignal | undefined,
  ): Promise<OpenResponse> {
    let retried = false;
    let authenticated = false;
    if (this.bearerChallenge && !this.tokens.get(this.tokenKey(this.bearerChallenge, repository))) {
      await this.authenticate(this.bearerChallenge, repository, signal);
      authenticated = true;
    }
    for (let round = 0; round < 4; round += 1) {
      let response: OpenResponse;
      try {
        response = await this.open(method, path, { ...headers, ...this.authorization(repository) }, signal);
      } catch (error) {
        if (!retried && !signal?.aborted && RETRIED_NETWORK_ERRORS.has(errorCode(error))) {
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
        if (!challenge) throw upstreamStatusError(401, 'blob', this.registry);
        await this.authenticate(challenge, repository, signal);
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
    throw new OciError('UPSTREAM_ERROR', `upstream ${this.registry} kept failing for ${path}`);
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
    if (this.bearerChallenge) {
      const token = this.tokens.get(this.tokenKey(this.bearerChallenge, repository));
      if (token) return { authorization: `Bearer ${token}` };
    }
    return {};
  }

  private tokenKey(challenge: AuthChallenge, repository: string): string {
    return `${challenge.parameters.realm ?? ''}|${challenge.parameters.service ?? ''}|repository:${repository}:pull`;
  }

  private async authenticate(challenge: AuthChallenge, repository: string, signal: AbortSignal | undefined): Promise<void> {
    if (challenge.scheme === 'basic') {
      if (!this.options.credentials) throw upstreamStatusError(401, 'blob', this.registry);
      this.basicRequired = true;
      return;
    }
    this.bearerChallenge = challenge;
    const key = this.tokenKey(challenge, repository);
    // Concurrent pulls of one repository share a single token request.
    let pending = this.tokenRequests.get(key);
    if (!pending) {
      pending = this.requestToken(challenge, repository, key, signal).finally(() => this.tokenRequests.delete(key));
      this.tokenRequests.set(key, pending);
    }
    await pending;
  }

  private async requestToken(challenge: AuthChallenge, repository: string, key: string, signal: AbortSignal | undefined): Promise<void> {
    const realm = challenge.parameters.realm;
    if (!realm || !/^https?:\/\//.test(realm)) {
      throw new OciError('UPSTREAM_ERROR', `upstream ${this.registry} sent a Bearer challenge without a usable realm`);
    }
    const url = new URL(realm);
    if (challenge.parameters.service) url.searchParams.set('service', challenge.parameters.service);
    url.searchParams.set('scope', `repository:${repository}:pull`);
    const credentials = this.options.credentials;
    const headers: Record<string, string> = credentials
      ? { authorization: `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}` }
      : {};
    let response;
    try {
      response = await got(url, {
        headers,
        throwHttpErrors: false,
        retry: { limit: 0 },
        timeout: { request: this.options.timeoutMs },
        responseType: 'text',
        ...(signal ? { signal } : {}),
        ...(this.options.httpsAgent ? { agent: { https: this.options.httpsAgent } } : {}),
      });
    } catch (error) {
      throw upstreamNetworkError(error, this.registry);
    }
    if (response.statusCode === 401 || response.statusCode === 403) {
      throw new OciError('DENIED', `the token server of ${this.registry} refused the configured credentials`, {
        detail: { upstream: this.registry, status: response.statusCode },
      });
    }
    if (response.statusCode !== 200) throw upstreamStatusError(response.statusCode, 'blob', this.registry);
    const parsed = parseTokenResponse(response.body);
    if (!parsed) throw new OciError('UPSTREAM_ERROR', `the token server of ${this.registry} answered without a token`);
    this.tokens.set(key, parsed.token, parsed.expiresIn);
    this.options.logger.debug({ registry: this.registry, scope: `repository:${repository}:pull`, expiresIn: parsed.expiresIn }, 'obtained upstream token');
  }
}

function parseTokenResponse(body: string): { token: string; expiresIn: number } | undefined {
  try {
    const parsed = JSON.parse(body) as { token?: unknown; access_token?: unknown; expires_in?: unknown };
    const token = typeof parsed.token === 'string' ? parsed.token : typeof parsed.access_token === 'string' ? parsed.access_token : undefined;
    if (!token) return undefined;
    const expiresIn = typeof parsed.expires_in === 'number' && parsed.expires_in > 0 ? parsed.expires_in : DEFAULT_TOKEN_LIFETIME_S;
    return { token, expiresIn };
  } catch {
    return undefined;
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
        throw new OciError('UPSTREAM_ERROR', `upstream ${registry} sent a manifest larger than ${limit} bytes`);
      }
      chunks.push(buffer);
    }
  } catch (error) {
    throw upstreamNetworkError(error, registry);
  }
  return Buffer.concat(chunks);
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function errorCode(error: unknown): string {
  return typeof error === 'object' && error !== null && 'code' in error ? String(error.code) : '';
}
