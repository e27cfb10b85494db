import type { ConfigProblem } from './config-problem.js';
import type { SettingKind } from './setting-spec.js';
import { didYouMean } from './suggest.js';

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
 * Not util.parseArgs (which the subcommands use, cli/commands/command-args.ts): it throws at
 * the first mistake, while start-up reports every problem at once with a did-you-mean, and
 * it refuses `--switch=false`, which lets a file or script turn a switch back off.
 */
export function parseArgv<K extends string>(argv: readonly string[], declarations: readonly FlagDeclaration<K>[]): ParsedArgv<K> {
  const byFlag = new Map(declarations.map((declaration) => [declaration.flag, declaration]));
  const values = new Map<K, string[]>();
  const problems: ConfigProblem[] = [];
  const reported = new Set<string>();
  for (let index = 0; index < argv.length; index += 1) {
    const token = argv[index] ?? '';
    if (token === '--') {
      for (const rest of argv.slice(index + 1)) problems.push(positional(rest));
      break;
    }
    if (!token.startsWith('-') || token === '-') {
      problems.push(positional(token));
      continue;
    }
    const equals = token.indexOf('=');
    const flag = equals < 0 ? token : token.slice(0, equals);
    const declaration = byFlag.get(flag);
    if (declaration === undefined) {
      problems.push({ setting: flag, message: `unknown flag${didYouMean(flag, [...byFlag.keys()])}` });
      // Its value, most likely: reporting it again as a stray argument would only be noise.
      const next = argv[index + 1];
      if (equals < 0 && next !== undefined && !next.startsWith('-')) index += 1;
      continue;
    }
    let value: string;
    if (equals >= 0) {
      value = token.slice(equals + 1);
    } else if (declaration.kind === 'switch') {
      value = 'true';
    } else {
      const next = argv[index + 1];
      if (next === undefined || next.startsWith('--')) {
        problems.push({ setting: flag, message: 'needs a value' });
        continue;
      }
      value = next;
      index += 1;
    }
    const known = values.get(declaration.key);
    if (declaration.kind !== 'list' && known !== undefined) {
      if (!reported.has(flag)) problems.push({ setting: flag, message: 'given more than once' });
      reported.add(flag);
      continue;
    }
    const texts = declaration.kind === 'list' ? splitList(value) : [value];
    values.set(declaration.key, [...(known ?? []), ...texts]);
  }
  return { values, problems };
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
