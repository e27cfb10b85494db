import type { SettingSpec } from './setting-spec.js';
import { SETTINGS, SETTING_KEYS } from './settings.js';

const WIDTH = 100;
const INDENT = 30;

export interface HelpOptions {
  /** First line, e.g. `Usage: edgepier serve [options]`. */
  readonly usage?: string;
}

/** True when argv asks for help; the CLI checks this before loadConfig, which rejects `--help`. */
export function wantsHelp(argv: readonly string[]): boolean {
  const end = argv.indexOf('--');
  return (end < 0 ? argv : argv.slice(0, end)).some((arg) => arg === '--help' || arg === '-h');
}

/** `--help` text, generated from SETTINGS. */
export function renderHelp(options: HelpOptions = {}): string {
  const lines = [options.usage ?? 'Usage: edgepier serve [options]', '', 'Options (flag > EDGEPIER_* environment > config file > default):'];
  const withoutFlag: SettingSpec<unknown>[] = [];
  for (const key of SETTING_KEYS) {
    const spec: SettingSpec<unknown> = SETTINGS[key];
    if (spec.flag === null) withoutFlag.push(spec);
    else lines.push(...entry(usageOf(spec), spec));
  }
  lines.push(...entry('--help, -h', null));
  if (withoutFlag.length > 0) {
    lines.push('', 'Environment and config file only:');
    for (const spec of withoutFlag) lines.push(...entry(spec.env ?? spec.yamlKey ?? '', spec));
  }
  return `${lines.join('\n')}\n`;
}

function usageOf(spec: SettingSpec<unknown>): string {
  const flag = spec.flag ?? '';
  if (spec.kind === 'switch') return flag;
  return `${flag} ${spec.valueName}${spec.kind === 'list' ? ' (repeatable)' : ''}`;
}

function entry(usage: string, spec: SettingSpec<unknown> | null): string[] {
  const text =
    spec === null
      ? 'Print this help and exit.'
      : [
          spec.description,
          `Default: ${spec.defaultText}.`,
          spec.env === null ? '' : `Env: ${spec.env}.`,
          spec.yamlKey === null ? '' : `YAML: ${spec.yamlKey}.`,
        ]
          .filter((part) => part !== '')
          .join(' ');
  const wrapped = wrap(text, WIDTH - INDENT);
  const head = `  ${usage}`;
  const lines: string[] = [];
  if (head.length < INDENT) {
    lines.push(head.padEnd(INDENT) + (wrapped.shift() ?? ''));
  } else {
    lines.push(head);
  }
  for (const line of wrapped) lines.push(' '.repeat(INDENT) + line);
  return lines;
}

function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let current = '';
  for (const word of text.split(/\s+/)) {
    if (current !== '' && current.length + 1 + word.length > width) {
      lines.push(current);
      current = word;
    } else {
      current = current === '' ? word : `${current} ${word}`;
    }
  }
  if (current !== '') lines.push(current);
  return lines;
}
