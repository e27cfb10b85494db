import type { ConfigProblem } from './config-problem.js';
import type { SettingKind } from './setting-spec.js';
import { didYouMean } from './suggest.js';
import { parseArgs } from 'node:util';

export interface FlagDeclaration<K extends string> {
  readonly key: K;
  readonly flag: string;
  readonly kind: SettingKind;
}

export interface ParsedArgv<K extends string> {
  /** Raw texts per setting: a list flag's occurrences split on commas; `'true'` for a bare switch. */
  readonly values: ReadonlyMap<K, readonly string[]>;
  readonly problems: readonly ConfigProblem[];
}

/**
 * `--flag value`, `--flag=value`, and bare switches (`--no-mdns`, or `--no-mdns=false`).
 * A value-taking flag never swallows a following `--flag`. Positional arguments, unknown
 * flags and a single-value flag given twice are problems.
 *
 * util.parseArgs splits the arguments, in its lenient mode with tokens: strict mode throws at
 * the first mistake, while start-up reports every problem at once with a did-you-mean, and it
 * refuses `--switch=false`, which lets a file or script turn a switch back off.
 */
export function parseArgv<K extends string>(argv: readonly string[], declarations: readonly FlagDeclaration<K>[]): ParsedArgv<K> {
  const state: ArgvState<K> = {
    byFlag: new Map(declarations.map((declaration) => [declaration.flag, declaration])),
    values: new Map<K, string[]>(),
    problems: [],
    reported: new Set<string>(),
  };
  let rest = [...argv];
  // A round ends early only where a flag took the next `--flag` as its value; it has consumed at least that flag.
  while (rest.length > 0) rest = readRound(rest, state);
  return { values: state.values, problems: state.problems };
}

interface ArgvState<K extends string> {
  readonly byFlag: ReadonlyMap<string, FlagDeclaration<K>>;
  readonly values: Map<K, string[]>;
  readonly problems: ConfigProblem[];
  readonly reported: Set<string>;
}

/** Reads `args` into `state`; returns the arguments still to read. */
function readRound<K extends string>(args: string[], state: ArgvState<K>): string[] {
  const options: Record<string, { type: 'string' | 'boolean'; multiple: true }> = {};
  for (const { flag, kind } of state.byFlag.values()) {
    if (flag.startsWith('--')) options[flag.slice(2)] = { type: kind === 'switch' ? 'boolean' : 'string', multiple: true };
  }
  const { tokens } = parseArgs({ args, options, strict: false, allowPositionals: true, tokens: true });
  let terminated = false;
  // The argument after an unknown flag: most likely its value, and reporting it again as a stray argument would only be noise.
  let skipIndex = -1;
  let lastShortIndex = -1;
  for (const token of tokens) {
    if (token.kind === 'option-terminator') {
      terminated = true;
      continue;
    }
    if (token.kind === 'positional') {
      if (terminated || token.index !== skipIndex) state.problems.push(positional(token.value));
      continue;
    }
    // A group `-xy` is one token per letter: the argument is reported once, whole.
    if (!token.rawName.startsWith('--') && token.index === lastShortIndex) continue;
    const arg = args[token.index] ?? '';
    if (!token.rawName.startsWith('--')) lastShortIndex = token.index;
    const flag = token.rawName.startsWith('--') ? token.rawName : arg.split('=')[0] ?? arg;
    const inline = token.rawName.startsWith('--') ? token.inlineValue === true : arg.includes('=');
    const declaration = token.rawName.startsWith('--') ? state.byFlag.get(flag) : undefined;
    if (declaration === undefined) {
      state.problems.push({ setting: flag, message: `unknown flag${didYouMean(flag, [...state.byFlag.keys()])}` });
      const next = args[token.index + 1];
      if (!inline && next !== undefined && !next.startsWith('-')) skipIndex = token.index + 1;
      continue;
    }
    let value: string;
    if (inline) value = token.value ?? '';
    else if (declaration.kind === 'switch') value = 'true';
    else if (token.value === undefined || token.value.startsWith('--')) {
      state.problems.push({ setting: flag, message: 'needs a value' });
      if (token.value !== undefined) return args.slice(token.index + 1);
      continue;
    } else value = token.value;
    const known = state.values.get(declaration.key);
    if (declaration.kind !== 'list' && known !== undefined) {
      if (!state.reported.has(flag)) state.problems.push({ setting: flag, message: 'given more than once' });
      state.reported.add(flag);
      continue;
    }
    const texts = declaration.kind === 'list' ? splitList(value) : [value];
    state.values.set(declaration.key, [...(known ?? []), ...texts]);
  }
  return [];
}

/** Comma-separated items, trimmed, empty items dropped (a trailing comma is harmless). */
export function splitList(text: string): string[] {
  return text
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
}

function positional(token: string): ConfigProblem {
  return { setting: token, message: 'unexpected argument: settings are given as --flag value or --flag=value' };
}
