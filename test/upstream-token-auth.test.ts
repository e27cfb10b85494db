// The Bearer token flow against a loopback registry + token realm whose answers the test holds
// or breaks: a token server's 404 is an upstream failure (not "blob unknown"), and a pull
// that is cancelled while the shared token request runs does not fail the pulls waiting on it.
import assert from 'node:assert/strict';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, test, type TestContext } from 'node:test';
import { pino } from 'pino';
import { RegistryError } from '../oci/registry-error.js';
import { GotRegistryClient } from '../upstream/got-registry-client.js';
import { startMirror } from './support/mirror-under-test.js';
import { waitUntil } from './support/wait-until.js';

const MANIFEST = Buffer.from('{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}');

interface AuthUpstream {
  readonly url: string;
  readonly tokenRequests: number;
  readonly manifestRequests: number;
  /** Lets held token requests answer. */
  releaseTokens(): void;
}

/**
 * A registry that wants `Bearer good`, with its realm at /token (held until released) or at a
 * path that 404s; `realm`, when given, is sent as the challenge's realm text as is.
 */
async function startAuthUpstream(t: TestContext, realmPath: '/token' | '/missing', realm?: string): Promise<AuthUpstream> {
  let tokenRequests = 0;
  let manifestRequests = 0;
  const held: ServerResponse[] = [];
  let released = false;
  const answerToken = (response: ServerResponse): void => {
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end('{"token":"good","expires_in":300}');
  };
  const server = createServer((request, response) => {
    const path = (request.url ?? '').split('?')[0];
    if (path === '/token') {
      tokenRequests += 1;
      if (released) answerToken(response);
      else held.push(response);
      return;
    }
    if (path === '/v2/app/manifests/v1') {
      manifestRequests += 1;
      if (request.headers.authorization !== 'Bearer good') {
        const { port } = server.address() as AddressInfo;
        response.writeHead(401, { 'www-authenticate': `Bearer realm="${realm ?? `http://127.0.0.1:${port}${realmPath}`}",service="auth.test"`, 'content-type': 'application/json' });
        response.end('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}');
        return;
      }
      response.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json', 'content-length': MANIFEST.length });
      response.end(MANIFEST);
      return;
    }
    response.writeHead(404, { 'content-type': 'application/json' });
    response.end('{"errors":[{"code":"NOT_FOUND","message":"no such endpoint"}]}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(
    () =>
      new Promise<void>((resolve) => {
        for (const response of held) response.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    get tokenRequests() {
      return tokenRequests;
    },
    get manifestRequests() {
      return manifestRequests;
    },
    releaseTokens() {
      released = true;
      for (const response of held.splice(0)) answerToken(response);
    },
  };
}

describe('upstream Bearer token flow', () => {
  test('a 404 from the token server reaches the client as an upstream failure (502), not BLOB_UNKNOWN', async (t) => {
    const upstream = await startAuthUpstream(t, '/missing');
    const mirror = await startMirror({ upstreams: [{ registry: 'upstream.test', url: upstream.url }] });
    t.after(() => mirror.close());
    const response = await fetch(`${mirror.url}/v2/app/manifests/v1`);
    assert.equal(response.status, 502);
    assert.deepEqual(await response.json(), {
      errors: [
        {
          code: 'UPSTREAM_ERROR',
          message: 'the token server of upstream.test answered HTTP 404',
          detail: { upstream: 'upstream.test', status: 404, tokenServer: true },
        },
      ],
    });
  });

  test('a realm that is no URL (realm="http://") is an upstream failure (502), not a crash (found by the property tests)', async (t) => {
    const upstream = await startAuthUpstream(t, '/token', 'http://');
    const mirror = await startMirror({ upstreams: [{ registry: 'upstream.test', url: upstream.url }] });
    t.after(() => mirror.close());
    const response = await fetch(`${mirror.url}/v2/app/manifests/v1`);
    assert.equal(response.status, 502);
    assert.deepEqual(await response.json(), {
      errors: [{ code: 'UPSTREAM_ERROR', message: 'upstream upstream.test sent a Bearer challenge without a usable realm' }],
    });
    assert.equal(upstream.tokenRequests, 0);
  });

  test('a pull cancelled while the shared token request runs does not fail the pull waiting on the same token', async (t) => {
    const upstream = await startAuthUpstream(t, '/token');
    const client = new GotRegistryClient({ registry: 'upstream.test', url: upstream.url, timeoutMs: 5_000, logger: pino({ level: 'silent' }) });
    const cancelled = new AbortController();
    const first = client.fetchManifest('app', 'v1', { method: 'GET', signal: cancelled.signal });
    const firstOutcome = first.then(
      () => 'resolved',
      (error: unknown) => (error instanceof RegistryError ? error.code : String(error)),
    );
    await waitUntil(() => upstream.tokenRequests === 1, 'the first pull to ask for a token');
    // Joins the token request already running (the realm is known from the first 401).
    const second = client.fetchManifest('app', 'v1', { method: 'GET' });
    cancelled.abort();
    assert.notEqual(await firstOutcome, 'resolved', 'the cancelled pull stops');
    upstream.releaseTokens();
    const manifest = await second;
    assert.ok(manifest.body?.equals(MANIFEST), 'the other pull got its manifest');
    assert.equal(upstream.tokenRequests, 1, 'one token request served both pulls');
    assert.equal(upstream.manifestRequests, 2, 'the 401 that taught the realm, then the authorised GET');
  });
});
