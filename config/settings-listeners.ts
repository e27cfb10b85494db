import { formatHostPort, parseHostPort } from './parse-host-port.js';
import { formatCidr, parseCidr, type Cidr } from './parse-cidr.js';
import { fail, ok } from './parsed.js';
import { listSetting, valueSetting } from './setting-spec.js';
import type { SettingGroup } from './settings-schema.js';
import { nullIsUnset } from './yaml-null.js';

// The settings of the node's listeners and who may reach them (part of SETTINGS, settings.ts).

/** Where the client and peer APIs listen, which hosts may use the client API, and the site key that decides who is a peer. */
export const LISTENER_SETTINGS: SettingGroup<'listen' | 'clientAllow' | 'peerListen' | 'siteKeyFile'> = {
  listen: valueSetting({
    flag: '--listen',
    env: 'EDGEPIER_LISTEN',
    yamlKey: 'listen',
    valueName: 'HOST:PORT',
    description:
      'Address of the client API (this node\'s runtimes pull here). IPv6 in brackets: [::1]:5000. Port 0 picks a free port. ' +
      'Anything but loopback needs --client-allow.',
    default: '127.0.0.1:5000',
    defaultText: '127.0.0.1:5000',
    parse: (text) => parseHostPort(text, { allowPortZero: true }),
    yamlHint: 'quote IPv6 addresses in YAML: "[::]:5000"',
    display: formatHostPort,
  }),
  clientAllow: listSetting<Cidr, readonly Cidr[]>({
    flag: '--client-allow',
    env: 'EDGEPIER_CLIENT_ALLOW',
    yamlKey: 'clientAllow',
    valueName: 'CIDR,...',
    description: 'Hosts besides this one that may use the client API and the transparent proxy (a gateway serving other hosts\' runtimes).',
    defaultText: 'loopback only',
    parseItem: parseCidr,
    combine: (items) => ok(items),
    display: (cidrs) => cidrs.map(formatCidr),
  }),
  peerListen: valueSetting({
    flag: '--peer-listen',
    env: 'EDGEPIER_PEER_LISTEN',
    yamlKey: 'peerListen',
    valueName: 'HOST:PORT',
    description: 'Address of the peer API (other site members only; advertised over mDNS). Port 0 picks a free port.',
    default: '0.0.0.0:5001',
    defaultText: '0.0.0.0:5001',
    parse: (text) => parseHostPort(text, { allowPortZero: true }),
    yamlHint: 'quote IPv6 addresses in YAML: "[::]:5001"',
    display: formatHostPort,
  }),
  siteKeyFile: valueSetting<string | null>({
    flag: '--site-key-file',
    env: 'EDGEPIER_SITE_KEY_FILE',
    yamlKey: 'siteKeyFile',
    valueName: 'FILE',
    description:
      'The site key (`edgepier site-key generate FILE`). Members holding the same key are the site: peer traffic is mutually ' +
      'authenticated and encrypted, and nobody else is a peer. Unset: an open site that shares only anonymously fetched content.',
    defaultText: 'none (open site)',
    defaultValue: () => ok(null),
    parse: (text) => (text.trim() === '' ? fail('is empty: give a key file') : ok(text.trim())),
    fromYamlValue: nullIsUnset,
    display: (value) => value,
  }),
};
