// Issue 15: a peer's small answers (manifests, tag lists) are input from the network: a length
// past the cap is refused at the header, a body past it is cut, and neither is buffered whole.
import assert from 'node:assert/strict';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { PeerClient } from '../peer/peer-client.js';

describe('peer answers are read with a size cap', () => {
  let server: Server;
  let url = '';
  let mode: 'announced' | 'unannounced' = 'announced';
  let sent = 0;
  const client = new PeerClient({ nodeId: 'asker', peerTimeoutMs: 5_000, ownerFetchTimeoutMs: 5_000, logger: pino({ level: 'silent' }) });

  before(async () => {
    server = createServer((_request, response) => {
      sent = 0;
      if (mode === 'announced') response.writeHead(200, { 'content-type': 'application/json', 'content-length': 512 * 1024 * 1024 });
      else response.writeHead(200, { 'content-type': 'application/json' });
      pump(response);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  /** Sends filler, honouring backpressure, until the client hangs up (at most 512 MiB). */
  function pump(response: ServerResponse): void {
    const chunk = Buffer.alloc(64 * 1024, 0x20);
    const more = (): void => {
      while (!response.destroyed && sent < 512 * 1024 * 1024) {
        sent += chunk.length;
        if (!response.write(chunk)) {
          response.once('drain', more);
          return;
        }
      }
      response.end();
    };
    more();
  }

  test('a 512 MiB Content-Length for a manifest is refused before the body is read', async () => {
    mode = 'announced';
    await assert.rejects(
      client.fetchManifest({ id: 'big', url }, { registry: 'r', repository: 'app', reference: 'v1' }, { ownerFetch: false, signal: AbortSignal.timeout(5_000) }),
      /announced an oversized manifest/,
    );
  });

  test('an unannounced endless tag list is cut just past the 1 MiB cap', async () => {
    mode = 'unannounced';
    await assert.rejects(client.fetchTagList({ id: 'endless', url }, { registry: 'r', repository: 'app' }, AbortSignal.timeout(5_000)), /oversized tag list/);
    // What the server could hand to the socket before the cut: the cap plus socket buffers, not 512 MiB.
    assert.ok(sent < 64 * 1024 * 1024, `cut early (${sent} bytes written by the server)`);
  });
});
