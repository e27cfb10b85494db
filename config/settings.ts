import { LOG_LEVELS, type SettingKey } from './edgepier-config.js';
import { choiceParser } from './parse-choice.js';
import { parseNodeId } from './parse-node-id.js';
import { fail, ok } from './parsed.js';
import { valueSetting } from './setting-spec.js';
import type { SettingsSchema } from './settings-schema.js';
import { CACHE_SETTINGS } from './settings-cache.js';
import { DOWNLOAD_LIMIT_SETTINGS, SERVING_LIMIT_SETTINGS } from './settings-limits.js';
import { LISTENER_SETTINGS } from './settings-listeners.js';
import { PEER_SETTINGS, SWARM_SETTINGS } from './settings-peers.js';
import { TRANSPARENT_SETTINGS } from './settings-transparent.js';
import { UPSTREAM_SETTINGS, UPSTREAM_TRUST_SETTINGS } from './settings-upstream.js';

export type { SettingsSchema } from './settings-schema.js';

/**
 * Every setting, declared once: flag, env var, YAML key, default, help text, parser.
 * Help, the README table, `printConfig` and the loader are all generated from this list,
 * in this order (the groups are spread in the order users read them, so moving one moves
 * the README table). Precedence: flag > env > config file > default.
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
  ...LISTENER_SETTINGS,
  ...CACHE_SETTINGS,
  ...UPSTREAM_SETTINGS,
  ...SERVING_LIMIT_SETTINGS,
  ...PEER_SETTINGS,
  ...DOWNLOAD_LIMIT_SETTINGS,
  ...SWARM_SETTINGS,
  ...TRANSPARENT_SETTINGS,
  ...UPSTREAM_TRUST_SETTINGS,
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
