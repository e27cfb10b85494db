import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { EdgePierNode } from '../cli/edgepier-node.js';
import { loadConfig } from '../config/load-config.js';
import { rawExchange } from './support/proxy-client.js';
import { makeTempDir } from './support/temp-dir.js';
import { waitUntil } from './support/wait-until.js';

const CAP = 2;

/** A connection that made one keep-alive exchange: the server has certainly accepted and counted it. */
function holder(port: number, request: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('error', reject);
    socket.once('data', () => resolve(socket));
    socket.write(request);
  });
}

function refusedCount(metrics: string, listener: string): number {
  return Number(new RegExp(`^edgepier_connections_refused_total\\{listener="${listener}"\\} (\\d+)$`, 'm').exec(metrics)?.[1] ?? 0);
}

describe('--max-connections also caps the peer API and the transparent proxy, each listener on its own', () => {
  let node: EdgePierNode;
  let dir: Awaited<ReturnType<typeof makeTempDir>>;

  before(async () => {
    dir = await makeTempDir('cap-listeners');
    const loaded = loadConfig({
      argv: [
        '--listen', '127.0.0.1:0', '--peer-listen', '127.0.0.1:0', '--proxy-listen', '127.0.0.1:0',
        '--cache-dir', join(dir.path, 'cache'), '--ca-dir', join(dir.path, 'ca'),
        '--upstream', 'http://127.0.0.1:9', '--no-mdns', '--node-id', 'cap-node',
        '--max-connections', String(CAP),
      ],
      env: {},
    });
    assert.ok(loaded.ok, JSON.stringify(loaded));
    node = new EdgePierNode(loaded.config, pino({ level: 'silent' }));
    await node.start();
  });
  after(async () => {
    await node.close();
    await dir.remove();
  });

  const metrics = async (): Promise<string> => (await fetch(`${node.url}/metrics`)).text();

  const cases = [
    {
      listener: 'peer',
      port: () => Number(new URL(node.peerUrl).port),
      hold: 'GET /v2/ HTTP/1.1\r\nHost: peer\r\n\r\n',
      over: 'GET /v2/ HTTP/1.1\r\nHost: peer\r\n\r\n',
      message: `too many connections: this node's peer API serves at most ${CAP} at once; retry shortly`,
    },
    {
      listener: 'proxy',
      port: () => Number(new URL(node.proxyUrl ?? 'http://missing').port),
      // Not an absolute URL: answered at once (400) on a connection that stays open.
      hold: 'GET / HTTP/1.1\r\nHost: proxy\r\n\r\n',
      // A tunnel would leave the HTTP server: it must be refused before it opens.
      over: 'CONNECT 127.0.0.1:9 HTTP/1.1\r\nHost: 127.0.0.1:9\r\n\r\n',
      message: `too many connections: this node's proxy serves at most ${CAP} at once; retry shortly`,
    },
  ] as const;

  for (const listener of cases) {
    test(`the ${listener.listener} listener answers 503 + Retry-After past ${CAP} connections, and serves again once one closes`, async () => {
      const port = listener.port();
      const holders = await Promise.all(Array.from({ length: CAP }, () => holder(port, listener.hold)));
      try {
        const refused = await rawExchange(port, listener.over);
        assert.equal(refused.status, 503, refused.head);
        assert.match(refused.head, /\r\nRetry-After: 1\r\n/i);
        assert.deepEqual(JSON.parse(refused.body), { errors: [{ code: 'UNAVAILABLE', message: listener.message, detail: { maxConnections: CAP } }] });
        assert.equal(refusedCount(await metrics(), listener.listener), 1);
        // The client API has its own count: it is not full.
        assert.equal((await fetch(`${node.url}/v2/`)).status, 200);
      } finally {
        holders[0]?.destroy();
      }
      try {
        await waitUntil(async () => (await rawExchange(port, listener.hold.replace('\r\n\r\n', '\r\nConnection: close\r\n\r\n'))).status !== 503, 'a freed slot to be served');
      } finally {
        for (const socket of holders) socket.destroy();
      }
    });
  }
});
