import { parseDirectory } from './parse-directory.js';
import { formatHostPort, parseHostPort, type HostPort } from './parse-host-port.js';
import { ok } from './parsed.js';
import { valueSetting } from './setting-spec.js';
import type { SettingGroup } from './settings-schema.js';
import { nullIsUnset } from './yaml-null.js';

// The settings of transparent (HTTPS_PROXY) mode (part of SETTINGS, settings.ts).

/** Where the proxy listens, and where its CA is kept. */
export const TRANSPARENT_SETTINGS: SettingGroup<'proxyListen' | 'caDir'> = {
  proxyListen: valueSetting<HostPort | null>({
    flag: '--proxy-listen',
    env: 'EDGEPIER_PROXY_LISTEN',
    yamlKey: 'proxyListen',
    valueName: 'HOST:PORT',
    description:
      'Transparent mode: an HTTP proxy for HTTPS_PROXY. CONNECTs to upstream registries are intercepted and served like ' +
      'mirror pulls, everything else is tunnelled untouched. Serves loopback and --client-allow clients only, and never ' +
      'connects into this machine (loopback, link-local, its own ports).',
    defaultText: 'off',
    defaultValue: () => ok(null),
    parse: (text) => (text.trim() === '' || text.trim() === 'off' ? ok(null) : parseHostPort(text, { allowPortZero: true })),
    yamlHint: 'quote IPv6 addresses in YAML: "[::1]:3128"',
    display: (value) => (value === null ? 'off' : formatHostPort(value)),
  }),
  caDir: valueSetting<string | null>({
    flag: '--ca-dir',
    env: 'EDGEPIER_CA_DIR',
    yamlKey: 'caDir',
    valueName: 'DIR',
    description: 'Where transparent mode keeps its CA (created on first start, key readable by the owner only).',
    defaultText: '<cache dir>/ca',
    defaultValue: () => ok(null),
    parse: (text, { env }) => parseDirectory(text, env),
    fromYamlValue: nullIsUnset,
    display: (value) => value,
  }),
};
