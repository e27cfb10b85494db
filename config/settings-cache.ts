import { defaultCacheDirectory, parseDirectory } from './parse-directory.js';
import { formatPercent, parsePercent } from './parse-percent.js';
import { formatCacheMaxSize, parseCacheMaxSize } from './parse-size.js';
import { valueSetting } from './setting-spec.js';
import type { SettingGroup } from './settings-schema.js';

// The settings of the local cache (part of SETTINGS, settings.ts).

/** Where the cache lives, its budget, and how far eviction goes. */
export const CACHE_SETTINGS: SettingGroup<'cacheDir' | 'cacheMaxSize' | 'cacheLowWater'> = {
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
};
