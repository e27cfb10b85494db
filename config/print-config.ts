import { stringify } from 'yaml';
import type { EdgePierConfig, SettingKey } from './edgepier-config.js';
import { SETTINGS, SETTING_KEYS } from './settings.js';

/**
 * The effective configuration as YAML that `--config` reads back (secrets masked as `***`).
 * Settings without a YAML key (the config file path) appear as a comment.
 */
export function printConfig(config: EdgePierConfig): string {
  const document: Record<string, unknown> = {};
  for (const key of SETTING_KEYS) {
    const entry = yamlEntry(config, key);
    if (entry !== null) document[entry[0]] = entry[1];
  }
  const header = config.configFile === null ? '' : `# config file: ${config.configFile}\n`;
  return header + stringify(document);
}

function yamlEntry<K extends SettingKey>(config: EdgePierConfig, key: K): [string, unknown] | null {
  const spec = SETTINGS[key];
  return spec.yamlKey === null ? null : [spec.yamlKey, spec.display(config[key])];
}
