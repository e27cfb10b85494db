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
  const valueFlags = new Set(spec.values ?? []);
  const listFlags = new Set(spec.lists ?? []);
  const switchFlags = new Set(spec.switches ?? []);
  const settings = settingFlags();
  const positionals: string[] = [];
  const values = new Map<string, string>();
  const lists = new Map<string, string[]>();
  const switches = new Set<string>();
  const settingsArgv: string[] = [];
  const problems: string[] = [];
  for (let index = 0; index < argv.length; index += 1) {
    const arg = argv[index] ?? '';
    if (!arg.startsWith('--')) {
      positionals.push(arg);
      continue;
    }
    const equals = arg.indexOf('=');
    const flag = equals > 0 ? arg.slice(0, equals) : arg;
    const takeValue = (): string | undefined => {
      if (equals > 0) return arg.slice(equals + 1);
      const next = argv[index + 1];
      if (next === undefined || next.startsWith('--')) {
        problems.push(`${flag} needs a value`);
        return undefined;
      }
      index += 1;
      return next;
    };
    if (switchFlags.has(flag) && equals < 0) switches.add(flag);
    else if (valueFlags.has(flag)) {
      const value = takeValue();
      if (value === undefined) continue;
      if (values.has(flag)) problems.push(`${flag} given more than once`);
      values.set(flag, value);
    } else if (listFlags.has(flag)) {
      const value = takeValue();
      if (value !== undefined) lists.set(flag, [...(lists.get(flag) ?? []), value]);
    } else if (settings.switches.has(flag)) settingsArgv.push(arg);
    else if (settings.values.has(flag)) {
      const value = takeValue();
      if (value !== undefined) settingsArgv.push(`${flag}=${value}`);
    } else problems.push(`unknown option ${flag}${didYouMean(flag, [...valueFlags, ...listFlags, ...switchFlags, ...settings.values, ...settings.switches])}`);
  }
  return { positionals, values, lists, switches, settingsArgv, problems };
}
