import type { SettingSpec } from './setting-spec.js';
import { SETTINGS, SETTING_KEYS } from './settings.js';

/** The README's configuration table, generated from SETTINGS: flag | env | yaml key | default | description. */
export function renderConfigTable(): string {
  const rows = SETTING_KEYS.map((key) => {
    const spec: SettingSpec<unknown> = SETTINGS[key];
    return [flagCell(spec), code(spec.env), code(spec.yamlKey), plain(spec.defaultText), plain(describe(spec))];
  });
  const header = ['Flag', 'Env', 'YAML key', 'Default', 'Description'];
  return [header, header.map(() => '---'), ...rows].map((cells) => `| ${cells.join(' | ')} |`).join('\n') + '\n';
}

function flagCell(spec: SettingSpec<unknown>): string {
  if (spec.flag === null) return '—';
  const usage = spec.kind === 'switch' ? spec.flag : `${spec.flag} ${spec.valueName}`;
  return `${code(usage)}${spec.kind === 'list' ? ' (repeatable)' : ''}`;
}

function describe(spec: SettingSpec<unknown>): string {
  return spec.secret ? `Secret: never printed. ${spec.description}` : spec.description;
}

function code(text: string | null): string {
  return text === null ? '—' : `\`${escape(text)}\``;
}

/** A `|` would end the cell, even inside backticks (GFM). */
function escape(text: string): string {
  return text.replace(/\|/g, '\\|');
}

/** Plain text: `<cache dir>` would otherwise be read as an HTML tag and vanish. Backticks keep `<` as is. */
function plain(value: string): string {
  return escape(value).replace(/</g, '\\<');
}
