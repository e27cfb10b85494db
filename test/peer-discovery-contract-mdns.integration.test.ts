// The PeerDiscovery contract against MdnsDiscovery on real multicast between network
// namespaces (through RemoteDiscovery, which drives one process per namespace).
import { netnsUnavailableReason } from './support/netns.js';
import { launchMdnsSite } from './support/netns-discovery-proxy.js';
import { CONTRACT_NODES, peerDiscoveryContract } from './support/peer-discovery-contract.js';

const netnsSkip = netnsUnavailableReason();
peerDiscoveryContract('MdnsDiscovery (real multicast between network namespaces)', () => launchMdnsSite({ nodes: CONTRACT_NODES }), {
  holdings: 'indexed',
  ...(netnsSkip === undefined ? {} : { skip: `needs network namespaces: ${netnsSkip}` }),
});
