import { formatDuration, parseDuration } from './parse-duration.js';
import { valueSetting, type SettingSpec } from './setting-spec.js';

/** A duration setting (`20ms`, `3s`, `5m`) whose value name, parser and display every timeout shares. */
export function timeoutSetting(flag: `--${string}`, env: `EDGEPIER_${string}`, yamlKey: string, defaultText: string, description: string): SettingSpec<number> {
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
