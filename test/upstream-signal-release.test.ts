// A request read to its end lets go of the caller's signal: got's streams do not destroy
// themselves, and while its abort listener stays on a timeout signal, Node keeps the signal,
// and the whole request behind it, until the timeout fires (the soak's heap held 3,460 of them).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { getEventListeners } from 'node:events';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { GotRegistryClient } from '../upstream/got-registry-client.js';
import { LoopbackRegistry } from './support/loopback-registry.js';
import { waitUntil } from './support/wait-until.js';

describe('upstream requests release the signal they were given', () => {
  const upstream = new LoopbackRegistry();
  let client: GotRegistryClient;
  before(async () => {
    await upstream.start();
    client = new GotRegistryClient({ registry: 'upstream.test', url: upstream.url, timeoutMs: 5_000, logger: pino({ level: 'silent' }) });
  });
  after(() => upstream.stop());

  const listeners = (signal: AbortSignal): number => getEventListeners(signal, 'abort').length;

  test('a manifest GET and HEAD, a blob HEAD, and a blob read to its end leave no listener behind', async () => {
    const layer = upstream.addBlob(randomBytes(256 * 1024));
    upstream.addManifest('app', 'v1', { schemaVersion: 2, layers: [{ digest: layer, size: 256 * 1024 }] });
    const calls: [string, (signal: AbortSignal) => Promise<unknown>][] = [
      ['manifest GET', (signal) => client.fetchManifest('app', 'v1', { method: 'GET', signal })],
      ['manifest HEAD', (signal) => client.fetchManifest('app', 'v1', { method: 'HEAD', signal })],
      ['blob HEAD', (signal) => client.headBlob('app', layer, { signal })],
      [
        'blob GET',
        async (signal) => {
          const blob = await client.fetchBlob('app', layer, { signal });
          for await (const chunk of blob.stream) assert.ok((chunk as Buffer).length > 0);
        },
      ],
    ];
    for (const [name, call] of calls) {
      // Ten minutes: far past the test, so only the request itself can take its listener back.
      const signal = AbortSignal.timeout(600_000);
      await call(signal);
      await waitUntil(() => listeners(signal) === 0, `${name}: the abort listener is taken back`, 2_000);
    }
  });
});
