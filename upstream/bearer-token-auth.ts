import type { Agent as HttpsAgent } from 'node:https';
import got from 'got';
import type { Logger } from 'pino';
import { RegistryError } from '../oci/registry-error.js';
import type { RegistryCredentials } from './registry-client.js';
import { DEFAULT_TOKEN_LIFETIME_S, TokenCache } from './token-cache.js';
import { upstreamNetworkError } from './upstream-failure.js';
import { challengeRealm, type AuthChallenge } from './www-authenticate.js';

export interface BearerTokenAuthOptions {
  readonly registry: string;
  readonly credentials?: RegistryCredentials;
  /** Budget of one token request, independent of any caller's deadline. */
  readonly timeoutMs: number;
  readonly logger: Logger;
  readonly httpsAgent?: HttpsAgent;
}

/**
 * The distribution token flow for one upstream: the realm learnt from the first challenge,
 * a token per repository pull scope until it expires, and one token request per scope
 * however many pulls need it at once.
 */
export class BearerTokenAuth {
  private readonly tokens = new TokenCache();
  private readonly pending = new Map<string, Promise<void>>();
  /** Remembered so later scopes skip the 401 round trip. */
  private challenge: AuthChallenge | undefined;

  constructor(private readonly options: BearerTokenAuthOptions) {}

  /** True when the realm is known but `repository` has no live token: fetch one before sending. */
  needsToken(repository: string): boolean {
    return this.challenge !== undefined && this.tokens.get(this.key(this.challenge, repository)) === undefined;
  }

  /** The Authorization header for `repository`, when a live token exists. */
  authorization(repository: string): Record<string, string> {
    if (!this.challenge) return {};
    const token = this.tokens.get(this.key(this.challenge, repository));
    return token ? { authorization: `Bearer ${token}` } : {};
  }

  /** Obtains a token for `repository`, with the given challenge or the remembered one. */
  async authenticate(repository: string, signal: AbortSignal | undefined, challenge = this.challenge): Promise<void> {
    if (!challenge) return;
    this.challenge = challenge;
    const key = this.key(challenge, repository);
    let pending = this.pending.get(key);
    if (!pending) {
      // The shared request runs on its own deadline, not on the first caller's signal:
      // one cancelled pull must not fail every other pull waiting on the same token.
      pending = this.requestToken(challenge, repository, key).finally(() => this.pending.delete(key));
      this.pending.set(key, pending);
    }
    await abortable(pending, signal);
  }

  private key(challenge: AuthChallenge, repository: string): string {
    return `${challenge.parameters.realm ?? ''}|${challenge.parameters.service ?? ''}|${scope(repository)}`;
  }

  private async requestToken(challenge: AuthChallenge, repository: string, key: string): Promise<void> {
    const registry = this.options.registry;
    const url = challengeRealm(challenge);
    if (!url) throw new RegistryError('UPSTREAM_ERROR', `upstream ${registry} sent a Bearer challenge without a usable realm`);
    if (challenge.parameters.service) url.searchParams.set('service', challenge.parameters.service);
    url.searchParams.set('scope', scope(repository));
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
        ...(this.options.httpsAgent ? { agent: { https: this.options.httpsAgent } } : {}),
      });
    } catch (error) {
      throw upstreamNetworkError(error, registry);
    }
    if (response.statusCode === 401 || response.statusCode === 403) {
      throw new RegistryError('DENIED', `the token server of ${registry} refused the configured credentials`, {
        detail: { upstream: registry, status: response.statusCode },
      });
    }
    if (response.statusCode === 429) {
      throw new RegistryError('TOOMANYREQUESTS', `the token server of ${registry} is rate limiting`, { detail: { upstream: registry, status: 429 } });
    }
    // Any other failure is the token server's, never a statement about the content: a 404
    // here means a wrong realm, not an unknown manifest or blob.
    if (response.statusCode !== 200) {
      throw new RegistryError('UPSTREAM_ERROR', `the token server of ${registry} answered HTTP ${response.statusCode}`, {
        detail: { upstream: registry, status: response.statusCode, tokenServer: true },
      });
    }
    const parsed = parseTokenResponse(response.body);
    if (!parsed) throw new RegistryError('UPSTREAM_ERROR', `the token server of ${registry} answered without a token`);
    this.tokens.set(key, parsed.token, parsed.expiresIn);
    this.options.logger.debug({ registry, scope: scope(repository), expiresIn: parsed.expiresIn }, 'obtained upstream token');
  }
}

function scope(repository: string): string {
  return `repository:${repository}:pull`;
}

/** Waits for `promise` unless `signal` fires first; the promise itself keeps running. */
function abortable(promise: Promise<void>, signal: AbortSignal | undefined): Promise<void> {
  if (!signal) return promise;
  if (signal.aborted) return Promise.reject(abortReason(signal));
  return new Promise<void>((resolve, reject) => {
    const onAbort = (): void => reject(abortReason(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      () => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}

function abortReason(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new DOMException('aborted', 'AbortError');
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
