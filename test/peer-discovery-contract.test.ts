// The PeerDiscovery contract (test/support/peer-discovery-contract.ts) against every
// in-process implementation: the fake, the static list against real loopback HTTP servers,
// and the composite. MdnsDiscovery runs it in peer-discovery-contract-mdns.integration.test.ts.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CompositeDiscovery } from '../discovery/composite-discovery.js';
import { MemoryDiscovery, MemoryLan } from '../discovery/memory-discovery.js';
import type { Peer, PeerDiscovery } from '../discovery/peer-discovery.js';
import { NODE_HEADER } from '../discovery/node-headers.js';
import { StaticDiscovery } from '../discovery/static-discovery.js';
import { CONTRACT_NODES, peerDiscoveryContract, type ContractSite } from './support/peer-discovery-contract.js';

function memoryIdentities(prefix: string): Peer[] {
  return Array.from({ length: CONTRACT_NODES }, (_, n) => ({ id: `${prefix}-${n}`, url: `http://127.0.0.1:${5000 + n}` }));
}

peerDiscoveryContract(
  'MemoryDiscovery',
  () => {
    const lan = new MemoryLan();
    const identities = memoryIdentities('memory');
    const nodes = identities.map((peer) => new MemoryDiscovery({ lan, nodeId: peer.id, url: peer.url }));
    return Promise.resolve({ nodes, identities, destroy: () => Promise.resolve() });
  },
  { holdings: 'indexed' },
);

/** A node's HTTP API as far as a static list can tell: `/v2/` answers and names the node. */
async function nodeServer(nodeId: string): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer((_request, response) => {
    response.setHeader(NODE_HEADER, nodeId);
    response.statusCode = 200;
    response.end('{}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  let closed: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      (closed ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      })),
  };
}

/** Three nodes, each with its HTTP server; `makeNode` builds node n's discovery. */
async function httpSite(prefix: string, makeNode: (nodeId: string, url: string, urls: string[]) => PeerDiscovery): Promise<ContractSite> {
  const ids = Array.from({ length: CONTRACT_NODES }, (_, n) => `${prefix}-${n}`);
  const servers = await Promise.all(ids.map((id) => nodeServer(id)));
  const urls = servers.map((server) => server.url);
  const nodes = ids.map((nodeId, n) => makeNode(nodeId, urls[n] ?? '', urls));
  return {
    nodes,
    identities: ids.map((id, n) => ({ id, url: urls[n] ?? '' })),
    // A static list learns that a node left when its server stops answering.
    leave: async (n) => {
      await nodes[n]?.close();
      await servers[n]?.close();
    },
    destroy: async () => {
      await Promise.all(servers.map((server) => server.close()));
    },
  };
}

/** Every node gets the same list, itself included, as a site-wide config file would. */
const staticList = (nodeId: string, urls: string[]): StaticDiscovery =>
  new StaticDiscovery({ nodeId, peers: urls, probeIntervalMs: 50, probeTimeoutMs: 3000 });

peerDiscoveryContract(
  'StaticDiscovery (real loopback HTTP servers)',
  () => httpSite('static', (nodeId, _url, urls) => staticList(nodeId, urls)),
  { holdings: 'every-live-peer' },
);

{
  // The shape `serve` builds with --peers and mDNS on: an indexed source and a static list
  // that both see every node. Each node is one peer, and leaves once, when both sources
  // have seen it go.
  const lan = new MemoryLan();
  peerDiscoveryContract(
    'CompositeDiscovery (an indexed source plus a static list)',
    () => httpSite('mixed', (nodeId, url, urls) => new CompositeDiscovery([new MemoryDiscovery({ lan, nodeId, url }), staticList(nodeId, urls)])),
    { holdings: 'every-live-peer' },
  );
}

peerDiscoveryContract(
  'CompositeDiscovery (two MemoryLans that both see every node)',
  () => {
    const lans = [new MemoryLan(), new MemoryLan()];
    const identities = memoryIdentities('composite');
    const nodes: PeerDiscovery[] = identities.map(
      (peer) => new CompositeDiscovery(lans.map((lan) => new MemoryDiscovery({ lan, nodeId: peer.id, url: peer.url }))),
    );
    return Promise.resolve({ nodes, identities, destroy: () => Promise.resolve() });
  },
  { holdings: 'indexed' },
);
