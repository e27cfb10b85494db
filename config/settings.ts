import { isIPv4 } from 'node:net';
import { LOG_LEVELS, PEER_MODES, type EdgePierConfig, type SettingKey } from './edgepier-config.js';
import { parseBoolean } from './parse-boolean.js';
import { choiceParser } from './parse-choice.js';
import { maskCredentials, parseCredentialsJson, parseCredentialsValue } from './parse-credentials.js';
import { defaultCacheDirectory, parseDirectory } from './parse-directory.js';
import { formatDuration, parseDuration } from './parse-duration.js';
import { formatHostPort, parseHostPort, type HostPort } from './parse-host-port.js';
import { formatCidr, parseCidr, type Cidr } from './parse-cidr.js';
import { parseCount } from './parse-count.js';
import { parseNodeId } from './parse-node-id.js';
import { formatFanOut, parseFanOut } from './parse-fan-out.js';
import { formatPercent, parsePercent } from './parse-percent.js';
import { formatByteSize, formatCacheMaxSize, parseByteSize, parseCacheMaxSize } from './parse-size.js';
import { combineUpstreams, formatUpstreams, parseUpstreamEntry, upstreamMapping } from './parse-upstreams.js';
import { fail, isPlainObject, ok, describeValue, type Parsed } from './parsed.js';
import { listSetting, switchSetting, valueSetting, type SettingSpec } from './setting-spec.js';

export type SettingsSchema = { readonly [K in SettingKey]: SettingSpec<EdgePierConfig[K]> };

function timeout(flag: `--${string}`, env: `EDGEPIER_${string}`, yamlKey: string, defaultText: string, description: string): SettingSpec<number> {
  return valueSetting({
    flag,
    env,
    yamlKey,
    valueName: 'DURATION',
    description,
    default: defaultText,
    defaultText,
    parse: (text) => parseDuration(text, { minMs: 1 }),
    display: formatDuration,
  });
}

/**
 * Every setting, declared once: flag, env var, YAML key, default, help text, parser.
 * Help, the README table, `printConfig` and the loader are all generated from this list,
 * in this order. Precedence: flag > env > config file > default.
 */
export const SETTINGS: SettingsSchema = {
  configFile: valueSetting<string | null>({
    flag: '--config',
    env: 'EDGEPIER_CONFIG',
    yamlKey: null,
    valueName: 'FILE',
    description: 'YAML file with any of the settings below, by their YAML key. Unknown keys are errors.',
    defaultText: 'none',
    defaultValue: () => ok(null),
    parse: (text) => (text.trim() === '' ? fail('is empty: give a file path') : ok(text.trim())),
    display: (value) => value,
  }),
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
  cacheDir: valueSetting({
    flag: '--cache-dir',
    env: 'EDGEPIER_CACHE_DIR',
    yamlKey: 'cacheDir',
    valueName: 'DIR',
    description: 'Directory for cached blobs, manifests and the node id.',
    defaultText: '$XDG_CACHE_HOME/edgepier, else ~/.cache/edgepier',
    defaultValue: ({ env }) => defaultCacheDirectory(env),
    parse: (text, { env }) => parseDirectory(text, env),
    display: (value) => value,
  }),
  cacheMaxSize: valueSetting({
    flag: '--cache-max-size',
    env: 'EDGEPIER_CACHE_MAX_SIZE',
    yamlKey: 'cacheMaxSize',
    valueName: 'SIZE|PERCENT',
    description: 'Cache budget: bytes (1024), SI or IEC units (500MB, 10GiB), or a share of the cache disk (30%). 0 is unlimited.',
    default: '0',
    defaultText: '0 (unlimited)',
    parse: parseCacheMaxSize,
    display: formatCacheMaxSize,
  }),
  cacheLowWater: valueSetting({
    flag: '--cache-low-water',
    env: 'EDGEPIER_CACHE_LOW_WATER',
    yamlKey: 'cacheLowWater',
    valueName: 'PERCENT',
    description: 'When the budget is exceeded, evict least recently used content down to this share of it.',
    default: '90%',
    defaultText: '90%',
    parse: parsePercent,
    display: formatPercent,
  }),
  upstreams: listSetting({
    flag: '--upstream',
    env: 'EDGEPIER_UPSTREAM',
    yamlKey: 'upstreams',
    valueName: 'URL|HOST=URL',
    description:
      'Upstream registry, repeatable. A bare URL is the default upstream (for names without a registry host); ' +
      'HOST=URL serves names under that registry host (ghcr.io=https://ghcr.io). YAML: strings or {host, url}.',
    defaultText: 'https://registry-1.docker.io (as docker.io)',
    parseItem: parseUpstreamEntry,
    fromYamlItem(value) {
      if (!isPlainObject(value)) return fail(`expected a URL, HOST=URL or {host, url}, got ${describeValue(value)}`);
      const unknown = Object.keys(value).filter((key) => key !== 'host' && key !== 'url');
      if (unknown.length > 0) return fail(`unknown field(s) ${unknown.join(', ')} in an upstream (expected host and url)`);
      const { host, url } = value;
      if (typeof url !== 'string') return fail(`upstream url must be a string, got ${describeValue(url)}`);
      if (host === undefined) return parseUpstreamEntry(url);
      if (typeof host !== 'string') return fail(`upstream host must be a string, got ${describeValue(host)}`);
      return upstreamMapping(host, url);
    },
    combine: combineUpstreams,
    display: formatUpstreams,
  }),
  credentials: valueSetting({
    flag: null,
    env: 'EDGEPIER_CREDENTIALS',
    yamlKey: 'credentials',
    valueName: 'JSON',
    secret: true,
    description:
      'Upstream logins by registry host: {"ghcr.io": {"username": "...", "password": "..."}} (JSON in the env var). ' +
      'No flag: argv is visible in ps.',
    defaultText: 'none',
    defaultValue: () => ok({}),
    parse: parseCredentialsJson,
    fromYamlValue: parseCredentialsValue,
    display: maskCredentials,
  }),
  upstreamTimeout: timeout(
    '--upstream-timeout',
    'EDGEPIER_UPSTREAM_TIMEOUT',
    'upstreamTimeout',
    '30s',
    'Connect and idle timeout for upstream calls (20ms, 3s, 5m, 1h).',
  ),
  tagTimeout: timeout(
    '--tag-timeout',
    'EDGEPIER_TAG_TIMEOUT',
    'tagTimeout',
    '3s',
    'How long a tag lookup waits for upstream before serving the last known tag → digest mapping.',
  ),
  sendTimeout: timeout(
    '--send-timeout',
    'EDGEPIER_SEND_TIMEOUT',
    'sendTimeout',
    '30s',
    'A client (or peer) that takes less than 64 KiB of a waiting response in this long is cut: one that stopped reading holds no memory or socket.',
  ),
  idleTimeout: timeout(
    '--idle-timeout',
    'EDGEPIER_IDLE_TIMEOUT',
    'idleTimeout',
    '65s',
    'A keep-alive connection with no request for this long is closed.',
  ),
  maxConnections: valueSetting({
    flag: '--max-connections',
    env: 'EDGEPIER_MAX_CONNECTIONS',
    yamlKey: 'maxConnections',
    valueName: 'COUNT',
    description:
      'Open connections served at once, on each listener (client API, peer API, proxy) counted on its own. Past it a ' +
      'request (or CONNECT) gets 503 UNAVAILABLE with Retry-After (client API health and metrics are still answered); ' +
      'past twice it new connections are dropped.',
    default: '1024',
    defaultText: '1024',
    parse: (text) => parseCount(text, 1_000_000),
    display: String,
  }),
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
  peerTimeout: timeout('--peer-timeout', 'EDGEPIER_PEER_TIMEOUT', 'peerTimeout', '2s', 'How long to wait for a peer before falling back to upstream.'),
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
  downloadStallTimeout: timeout(
    '--download-stall-timeout',
    'EDGEPIER_DOWNLOAD_STALL_TIMEOUT',
    'downloadStallTimeout',
    '10s',
    'A blob source (peer or upstream) that sends no byte for this long is dropped; the download resumes from the next one with Range.',
  ),
  downloadMinRate: valueSetting({
    flag: '--download-min-rate',
    env: 'EDGEPIER_DOWNLOAD_MIN_RATE',
    yamlKey: 'downloadMinRate',
    valueName: 'SIZE',
    description:
      'Throughput floor per second: a blob source averaging less over --download-rate-window is dropped and the download ' +
      'resumes elsewhere. 0 turns the floor off (a WAN that is slow but the only way out).',
    default: '16KiB',
    defaultText: '16KiB',
    parse: parseByteSize,
    display: formatByteSize,
  }),
  downloadRateWindow: timeout(
    '--download-rate-window',
    'EDGEPIER_DOWNLOAD_RATE_WINDOW',
    'downloadRateWindow',
    '20s',
    'The window --download-min-rate is averaged over: what a trickling source costs at most before the download moves on.',
  ),
  spoolMaxSize: valueSetting({
    flag: '--spool-max-size',
    env: 'EDGEPIER_SPOOL_MAX_SIZE',
    yamlKey: 'spoolMaxSize',
    valueName: 'SIZE',
    description:
      'Bound on unverified bytes of downloads in flight, all together, on top of --cache-max-size (they never count against it, ' +
      'so they never evict verified content). A download past it is served uncached. 0 is unlimited.',
    default: '8GiB',
    defaultText: '8GiB',
    parse: parseByteSize,
    display: formatByteSize,
  }),
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
  upstreamCaFile: valueSetting<string | null>({
    flag: '--upstream-ca-file',
    env: 'EDGEPIER_UPSTREAM_CA_FILE',
    yamlKey: 'upstreamCaFile',
    valueName: 'FILE',
    description: 'PEM bundle of extra CAs trusted for upstream TLS, on top of the system trust store.',
    defaultText: 'none',
    defaultValue: () => ok(null),
    parse: (text) => (text.trim() === '' ? fail('is empty: give a PEM file') : ok(text.trim())),
    fromYamlValue: nullIsUnset,
    display: (value) => value,
  }),
  nodeId: valueSetting({
    flag: '--node-id',
    env: 'EDGEPIER_NODE_ID',
    yamlKey: 'nodeId',
    valueName: 'ID',
    description: 'This node\'s id among peers (1-63 of letters, digits, . _ -).',
    default: '',
    defaultText: 'generated once, kept in the cache dir',
    parse: parseNodeId,
    display: (value) => value,
  }),
  logLevel: valueSetting({
    flag: '--log-level',
    env: 'EDGEPIER_LOG_LEVEL',
    yamlKey: 'logLevel',
    valueName: LOG_LEVELS.join('|'),
    description: 'Minimum level of log lines.',
    default: 'info',
    defaultText: 'info',
    parse: choiceParser(LOG_LEVELS),
    display: (value) => value,
  }),
};

/** Setting keys in declaration order. */
export const SETTING_KEYS = Object.keys(SETTINGS) as readonly SettingKey[];

/**
 * YAML `null` (or a key with no value) for an optional path means "not set": it is what
 * `config print` writes for one, so the printed config reads back as the same config.
 */
function nullIsUnset(value: unknown): Parsed<null> {
  return value === null ? ok(null) : fail(`expected a string, got ${describeValue(value)}`);
}

function dedupe(peers: readonly HostPort[]): HostPort[] {
  const seen = new Map<string, HostPort>();
  for (const peer of peers) seen.set(formatHostPort(peer), peer);
  return [...seen.values()];
}
