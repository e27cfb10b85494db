// StaticDiscovery against real loopback HTTP servers: a good peer, one that names itself,
// one that accepts connections but never answers, and one that goes away.
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { after, describe, it } from 'node:test';
import type { Peer } from '../discovery/peer-discovery.js';
import { normalizePeerUrl, StaticDiscovery } from '../discovery/static-discovery.js';
import { waitUntil } from './support/wait-until.js';

interface TestServer {
  readonly url: string;
  readonly seen: IncomingHttpHeaders[];
  close(): Promise<void>;
}

async function serve(respond: 'ok' | 'named' | 'silent', nodeId = 'x'): Promise<TestServer> {
  const seen: IncomingHttpHeaders[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((request, response) => {
    seen.push(request.headers);
    if (respond === 'silent') return; // accepts, never answers
    if (respond === 'named') response.setHeader('X-EdgePier-Node', nodeId);
    response.statusCode = 401; // any HTTP answer means "alive"
    response.end('{}');
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

const servers: TestServer[] = [];
after(async () => {
  await Promise.all(servers.map((server) => server.close()));
});

void describe('StaticDiscovery', () => {
  void it('normalizes HOST:PORT and URLs', () => {
    assert.equal(normalizePeerUrl('127.0.0.2:5000'), 'http://127.0.0.2:5000');
    assert.equal(normalizePeerUrl('https://edge-2.example:5000/'), 'https://edge-2.example:5000');
    assert.equal(normalizePeerUrl('[fd00::2]:5000'), 'http://[fd00::2]:5000');
    assert.throws(() => normalizePeerUrl('ftp://x:1'));
  });

  void it('probes /v2/ with the peer header, names peers, skips itself and silent peers', async () => {
    const plain = await serve('ok');
    const named = await serve('named', 'node-b');
    const self = await serve('named', 'node-a');
    const silent = await serve('silent');
    servers.push(plain, named, self, silent);
    const discovery = new StaticDiscovery({
      nodeId: 'node-a',
      peers: [plain.url.replace('http://', ''), `${named.url}/`, self.url, silent.url],
      probeIntervalMs: 100,
      // Only the silent peer may hit it: a live one must answer within it even on a loaded
      // machine (300 ms was not always enough with the unit tier running two files at once).
      probeTimeoutMs: 1500,
    });
    const ups: Peer[] = [];
    const downs: Peer[] = [];
    discovery.on('peer-up', (peer) => ups.push(peer));
    discovery.on('peer-down', (peer) => downs.push(peer));
    await discovery.start();
    try {
      const expected = [
        { id: plain.url, url: plain.url },
        { id: 'node-b', url: named.url },
      ];
      assert.deepEqual(discovery.peers(), expected);
      assert.deepEqual(ups, expected);
      assert.equal(plain.seen[0]?.['x-edgepier-peer'], 'node-a');
      assert.match(String(plain.seen.length), /^[1-9]/);
      // Static peers are candidates for every digest; the caller handles a fast 404.
      assert.deepEqual(await discovery.findHolders(`sha256:${'0'.repeat(64)}`, { timeoutMs: 10 }), expected);
      assert.deepEqual(await discovery.findHolders(`sha256:${'1'.repeat(64)}`, { timeoutMs: 10, firstAnswerOnly: true }), [expected[0]]);
      assert.deepEqual(await discovery.findHolders('anything', { timeoutMs: 10 }), [], 'a non-digest has no holders');

      await plain.close();
      await waitUntil(() => downs.length > 0, 'the closed peer to go down', 10_000);
      assert.deepEqual(downs, [{ id: plain.url, url: plain.url }]);
      assert.deepEqual(discovery.peers(), [{ id: 'node-b', url: named.url }]);
      assert.equal(ups.length, 2, 'no repeated peer-up while a peer stays up');
    } finally {
      await discovery.close();
      await discovery.close();
    }
    assert.deepEqual(discovery.peers(), []);
  });
});
