// Secrets never reach the logs: the real root logger (createLogger) captured to a stream, at
// trace level, while a node configured with upstream credentials pulls through Bearer token
// auth from a real docker-registry, and a client sends its own Authorization header.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, test } from 'node:test';
import { createLogger } from '../cli/create-logger.js';
import { EdgePierNode } from '../cli/edgepier-node.js';
import { loadConfig } from '../config/load-config.js';
import { startRegistry } from './support/registry-process.js';
import { makeTempDir } from './support/temp-dir.js';
import { buildImage, pushImage } from './support/test-image.js';

const CLIENT_SECRET = 'client-secret-c2VjcmV0LXZhbHVl';
const JWT = /eyJ[A-Za-z0-9_-]{10,}/;

function captured(): { sink: Writable; text: () => string } {
  let logged = '';
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      logged += chunk.toString('utf8');
      done();
    },
  });
  return { sink, text: () => logged };
}

describe('log redaction', () => {
  test('the root logger censors authorization, credentials, tokens and passwords wherever they sit', () => {
    const { sink, text } = captured();
    const logger = createLogger('trace', sink).child({ component: 'test' });
    logger.info({
      authorization: 'Bearer top-level-secret',
      headers: { authorization: 'Basic aGVhZGVyLXNlY3JldA==' },
      req: { headers: { authorization: 'Bearer nested-header-secret' } },
      credentials: { 'ghcr.io': { username: 'u', password: 'credentials-secret' } },
      upstream: { token: 'nested-token-secret', password: 'nested-password-secret' },
      token: 'token-secret',
      password: 'password-secret',
    }, 'with secrets');
    const line = text();
    for (const secret of ['top-level-secret', 'aGVhZGVyLXNlY3JldA==', 'nested-header-secret', 'credentials-secret', 'nested-token-secret', 'nested-password-secret', 'token-secret', 'password-secret']) {
      assert.ok(!line.includes(secret), `${secret} is not logged: ${line}`);
    }
    assert.ok(line.includes('[redacted]'), 'the keys stay, their values are censored');
    assert.ok(line.includes('"msg":"with secrets"'));
  });

  test('a node with upstream credentials pulls through token auth; nothing secret in a trace-level log', async (t) => {
    const registry = await startRegistry({ auth: 'token' });
    t.after(() => registry.stop());
    const layout = await buildImage({ layers: 2, layerSize: 50_000, seed: 'redaction' });
    t.after(() => layout.cleanup());
    const image = await pushImage(layout, registry, 'secret/app:v1');
    const cache = await makeTempDir('redaction');
    t.after(() => cache.remove());
    const upstreamHost = registry.host;
    const loaded = loadConfig({
      argv: ['--listen', '127.0.0.1:0', '--peer-listen', '127.0.0.1:0', '--cache-dir', cache.path, '--no-mdns', '--upstream', registry.url, '--log-level', 'trace'],
      env: { EDGEPIER_CREDENTIALS: JSON.stringify({ [upstreamHost]: { username: registry.username, password: registry.password } }) },
    });
    assert.ok(loaded.ok, JSON.stringify(loaded));
    const { sink, text } = captured();
    const node = new EdgePierNode(loaded.config, createLogger(loaded.config.logLevel, sink));
    await node.start();
    t.after(() => node.close());

    const headers = { authorization: `Bearer ${CLIENT_SECRET}`, accept: image.topMediaType };
    const manifest = await fetch(`${node.url}/v2/secret/app/manifests/v1`, { headers });
    assert.equal(manifest.status, 200, await manifest.clone().text());
    await manifest.arrayBuffer();
    for (const digest of image.blobs.keys()) {
      const blob = await fetch(`${node.url}/v2/secret/app/blobs/${digest}`, { headers });
      assert.equal(blob.status, 200);
      assert.ok(Buffer.from(await blob.arrayBuffer()).equals(image.blobs.get(digest) ?? Buffer.alloc(0)));
    }
    const wrongRepo = await fetch(`${node.url}/v2/secret/missing/manifests/v1`, { headers });
    await wrongRepo.arrayBuffer();
    assert.ok(registry.tokenServer && registry.tokenServer.tokenRequests > 0, 'tokens were really issued');

    const logged = text();
    assert.ok(logged.includes('"msg":"request"') && logged.includes('"source":"upstream"'), 'request lines were captured');
    assert.ok(logged.includes('"level":10') || logged.includes('"level":20'), 'trace/debug lines were captured too');
    assert.ok(registry.password && !logged.includes(registry.password), 'the upstream password is not logged');
    assert.ok(!logged.includes(Buffer.from(`${registry.username ?? ''}:${registry.password ?? ''}`).toString('base64')), 'nor its Basic form');
    assert.ok(!logged.includes(CLIENT_SECRET), "the client's Authorization header is not logged");
    assert.ok(!JWT.test(logged), 'no token is logged');
    assert.ok(!/"authorization":"(?!\[redacted\])/i.test(logged), 'no Authorization value is logged');
  });
});
