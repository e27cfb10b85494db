import { parseCount } from './parse-count.js';
import { formatByteSize, parseByteSize } from './parse-size.js';
import { valueSetting } from './setting-spec.js';
import type { SettingGroup } from './settings-schema.js';
import { timeoutSetting } from './timeout-setting.js';
// The bounds on serving and on downloading (part of SETTINGS, settings.ts).

/** How long a slow or idle client is kept, and how many are served at once. */
export const SERVING_LIMIT_SETTINGS: SettingGroup<'sendTimeout' | 'idleTimeout' | 'maxConnections'> = {
  sendTimeout: timeoutSetting(
    '--send-timeout',
    'EDGEPIER_SEND_TIMEOUT',
    'sendTimeout',
    '30s',
    'A client (or peer) that takes less than 64 KiB of a waiting response in this long is cut: one that stopped reading holds no memory or socket.',
  ),
  idleTimeout: timeoutSetting(
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
};

/** The pace every blob source is held to, and the bound on unverified spool bytes. */
export const DOWNLOAD_LIMIT_SETTINGS: SettingGroup<'downloadStallTimeout' | 'downloadMinRate' | 'downloadRateWindow' | 'spoolMaxSize'> = {
  downloadStallTimeout: timeoutSetting(
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
  downloadRateWindow: timeoutSetting(
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
};
