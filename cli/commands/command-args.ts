import { parseArgs } from 'node:util';
import { SETTINGS, SETTING_KEYS } from '../../config/settings.js';
import { didYouMean } from '../../config/suggest.js';

/** A maintenance command's arguments: its own positionals, flags and switches, and the node's settings. */
export interface CommandArgs {
  readonly positionals: readonly string[];
  readonly values: ReadonlyMap<string, string>;
  /** Every occurrence of a repeatable own flag (`--registry a --registry b`). */
  readonly lists: ReadonlyMap<string, readonly string[]>;
  readonly switches: ReadonlySet<string>;
  /** The `serve` flags given (`--listen`, `--cache-dir`, `--config`, ...), for the config loader. */
  readonly settingsArgv: readonly string[];
}

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export interface CommandSpec {
  readonly values?: readonly string[];
  /** Own flags that may be repeated; each occurrence is kept. */
  readonly lists?: readonly string[];
  readonly switches?: readonly string[];
}

/** `serve`'s flags by kind, from the one settings schema: a command accepts each of them too. */
function settingFlags(): { readonly switches: ReadonlySet<string>; readonly values: ReadonlySet<string> } {
  const switches = new Set<string>();
  const values = new Set<string>();
  for (const key of SETTING_KEYS) {
    const { flag, kind, secret } = SETTINGS[key];
    if (flag === null || secret) continue;
    (kind === 'switch' ? switches : values).add(flag);
  }
  return { switches, values };
}

/**
 * Parses argv for one subcommand. Its own flags come first; every `serve` setting flag is
 * passed on to the config loader, so a command sees the node exactly as `serve` does.
 * Anything else is an error (a typo must not silently pin nothing).
 */
export function parseCommandArgs(argv: readonly string[], spec: CommandSpec): CommandArgs {
  const args = readCommandArgs(argv, spec);
  const [first] = args.problems;
  if (first !== undefined) throw new UsageError(first);
  return args;
}

/** As `parseCommandArgs`, but every problem is collected instead of the first one thrown. */
export function readCommandArgs(argv: readonly string[], spec: CommandSpec): CommandArgs & { readonly problems: readonly string[] } {
  const flags = {
    values: new Set(spec.values ?? []),
    lists: new Set(spec.lists ?? []),
    switches: new Set(spec.switches ?? []),
    settings: settingFlags(),
  };
  const found = { positionals: [] as string[], values: new Map<string, string>(), lists: new Map<string, string[]>(), switches: new Set<string>(), settingsArgv: [] as string[], problems: [] as string[] };
  let rest = [...argv];
  // Each round reads until a flag took the next flag as its value, then starts again there; every round consumes at least one argument.
  while (rest.length > 0) rest = readRound(rest, flags, found);
  return found;
}

interface Flags {
  readonly values: ReadonlySet<string>;
  readonly lists: ReadonlySet<string>;
  readonly switches: ReadonlySet<string>;
  readonly settings: ReturnType<typeof settingFlags>;
}

interface Found {
  readonly positionals: string[];
  readonly values: Map<string, string>;
  readonly lists: Map<string, string[]>;
  readonly switches: Set<string>;
  readonly settingsArgv: string[];
  readonly problems: string[];
}

/**
 * util.parseArgs in its lenient mode splits the arguments (`--flag value`, `--flag=value`)
 * and names unknown flags instead of throwing, so every problem is reported at once. What it
 * would accept but we refuse: a value flag followed by another `--flag` (parseArgs takes that
 * as the value; here it is a missing value, and the next flag is read as a flag), a switch
 * given `=value`, and single-dash or `--` arguments, which stay positional or unknown as before.
 * Returns the arguments still to read.
 */
function readRound(args: string[], flags: Flags, found: Found): string[] {
  const options: Record<string, { type: 'string' | 'boolean'; multiple: true }> = {};
  // A command's own switch wins over a setting of the same name, as it always did.
  for (const flag of flags.switches) options[flag.slice(2)] = { type: 'boolean', multiple: true };
  for (const flag of [...flags.values, ...flags.lists, ...flags.settings.values]) options[flag.slice(2)] ??= { type: 'string', multiple: true };
  for (const flag of flags.settings.switches) options[flag.slice(2)] ??= { type: 'boolean', multiple: true };
  const { tokens } = parseArgs({ args, options, strict: false, allowPositionals: true, tokens: true });
  const shortOptionArgs = new Set<number>();
  for (const token of tokens) {
    if (token.kind === 'positional') {
      found.positionals.push(token.value);
      continue;
    }
    if (token.kind === 'option-terminator' || !token.rawName.startsWith('--')) {
      if (token.kind === 'option-terminator') {
        found.problems.push(`unknown option --${didYouMean('--', allFlags(flags))}`);
        return args.slice(token.index + 1);
      }
      // `-x` (or a group `-xy`, one token per letter) was a positional argument before, and stays one.
      if (!shortOptionArgs.has(token.index)) found.positionals.push(args[token.index] ?? '');
      shortOptionArgs.add(token.index);
      continue;
    }
    const flag = token.rawName;
    const inline = token.inlineValue === true;
    const value = token.value;
    const takesValue = !flags.switches.has(flag) && (flags.values.has(flag) || flags.lists.has(flag) || flags.settings.values.has(flag));
    if (takesValue && (value === undefined || (!inline && value.startsWith('--')))) {
      found.problems.push(`${flag} needs a value`);
      if (value !== undefined) return args.slice(token.index + 1);
      continue;
    }
    if (flags.switches.has(flag) && !inline) found.switches.add(flag);
    else if (flags.values.has(flag) && value !== undefined) {
      if (found.values.has(flag)) found.problems.push(`${flag} given more than once`);
      found.values.set(flag, value);
    } else if (flags.lists.has(flag) && value !== undefined) found.lists.set(flag, [...(found.lists.get(flag) ?? []), value]);
    else if (flags.settings.switches.has(flag)) found.settingsArgv.push(inline ? `${flag}=${value ?? ''}` : flag);
    else if (flags.settings.values.has(flag) && value !== undefined) found.settingsArgv.push(`${flag}=${value}`);
    else found.problems.push(`unknown option ${flag}${didYouMean(flag, allFlags(flags))}`);
  }
  return [];
}

function allFlags(flags: Flags): string[] {
  return [...flags.values, ...flags.lists, ...flags.switches, ...flags.settings.values, ...flags.settings.switches];
}
