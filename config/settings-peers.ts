import { isIPv4 } from 'node:net';
import { PEER_MODES } from './edgepier-config.js';
import { parseBoolean } from './parse-boolean.js';
import { choiceParser } from './parse-choice.js';
import { formatDuration, parseDuration } from './parse-duration.js';
import { formatHostPort, parseHostPort, type HostPort } from './parse-host-port.js';
import { formatFanOut, parseFanOut } from './parse-fan-out.js';
import { fail, ok } from './parsed.js';
import { listSetting, switchSetting, valueSetting } from './setting-spec.js';
import type { SettingGroup } from './settings-schema.js';
import { timeoutSetting } from './timeout-setting.js';

// The settings of the site's peers (part of SETTINGS, settings.ts).

/** How peers are found, how their content is served, and how long they are waited for. */
export const PEER_SETTINGS: SettingGroup<'mdns' | 'mdnsInterface' | 'peers' | 'peerMode' | 'peerTimeout' | 'peerHedgeDelay'> = {
  mdns: switchSetting({
    flag: '--no-mdns',
    env: 'EDGEPIER_NO_MDNS',
    yamlKey: 'mdns',
    description: 'Disable mDNS peer discovery on the LAN (env: true|false|1|0; YAML: mdns: false).',
    defaultText: 'mDNS on',
    parse: parseBoolean,
    whenSet: false,
    default: true,
  }),
  mdnsInterface: valueSetting({
    flag: '--mdns-interface',
    env: 'EDGEPIER_MDNS_INTERFACE',
    yamlKey: 'mdnsInterface',
    valueName: 'IPV4',
    description: 'Address of the LAN interface for mDNS (multicast and the address peers are told). Set it on multi-homed hosts.',
    default: '',
    defaultText: 'every interface',
    parse: (text) => (text === '' || isIPv4(text) ? ok(text) : fail(`${JSON.stringify(text.slice(0, 64))} is not an IPv4 address`)),
    display: (value) => value,
  }),
  peers: listSetting<HostPort, readonly HostPort[]>({
    flag: '--peers',
    env: 'EDGEPIER_PEERS',
    yamlKey: 'peers',
    valueName: 'HOST:PORT,...',
    description: 'Static peers, for sites where multicast is blocked. Comma-separated or repeated.',
    defaultText: 'none',
    parseItem: (text) => parseHostPort(text, { allowPortZero: false }),
    combine: (items) => ok(dedupe(items)),
    display: (peers) => peers.map(formatHostPort),
  }),
  peerMode: valueSetting({
    flag: '--peer-mode',
    env: 'EDGEPIER_PEER_MODE',
    yamlKey: 'peerMode',
    valueName: PEER_MODES.join('|'),
    description: 'proxy: stream a peer\'s content through this node; redirect: send the client to the peer.',
    default: 'proxy',
    defaultText: 'proxy',
    parse: choiceParser(PEER_MODES),
    display: (value) => value,
  }),
  peerTimeout: timeoutSetting('--peer-timeout', 'EDGEPIER_PEER_TIMEOUT', 'peerTimeout', '2s', 'How long to wait for a peer before falling back to upstream.'),
  peerHedgeDelay: valueSetting({
    flag: '--peer-hedge-delay',
    env: 'EDGEPIER_PEER_HEDGE_DELAY',
    yamlKey: 'peerHedgeDelay',
    valueName: 'DURATION',
    description: 'A peer that has not answered a blob request within this is raced by the next peer (never by upstream). 0 turns it off.',
    default: '1s',
    defaultText: '1s',
    parse: (text) => (text.trim() === '0' ? ok(0) : parseDuration(text, { minMs: 1 })),
    display: formatDuration,
  }),
};

/** The shape of each layer's relay tree. */
export const SWARM_SETTINGS: SettingGroup<'swarmFanOut'> = {
  swarmFanOut: valueSetting({
    flag: '--swarm-fan-out',
    env: 'EDGEPIER_SWARM_FAN_OUT',
    yamlKey: 'swarmFanOut',
    valueName: 'N|unbounded',
    description:
      'Children per node in a layer\'s relay tree: a node fetches a cold layer through its parent and passes it on as it ' +
      'arrives, so no node uploads more than N copies. 1 is a chain; unbounded fetches everything through the layer\'s owner. ' +
      'Every member should use the same value.',
    default: '1',
    defaultText: '1',
    parse: parseFanOut,
    display: formatFanOut,
  }),
};

function dedupe(peers: readonly HostPort[]): HostPort[] {
  const seen = new Map<string, HostPort>();
  for (const peer of peers) seen.set(formatHostPort(peer), peer);
  return [...seen.values()];
}
