import { defaultCacheDirectory, parseDirectory } from '../../config/parse-directory.js';

/** A maintenance command's arguments: positionals, `--flag value` / `--flag=value`, switches. */
export interface CommandArgs {
  readonly positionals: readonly string[];
  readonly values: ReadonlyMap<string, string>;
  readonly switches: ReadonlySet<string>;
}

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/**
 * Parses argv for one subcommand. Unknown flags are errors (a typo must not silently pin
 * nothing). The serve settings have their own schema; these few commands need no more.
 */
export function parseCommandArgs(argv: readonly string[], spec: { values?: readonly string[]; switches?: readonly string[] }): CommandArgs {
  const valueFlags = new Set(spec.values ?? []);
  const switchFlags = new Set(spec.switches ?? []);
  const positionals: string[] = [];
  const values = new Map<string, string>();
  const switches = new Set<string>();
  for (let index = 0; index < argv.length; index += 1) {
    const arg = argv[index] ?? '';
    if (!arg.startsWith('--')) {
      positionals.push(arg);
      continue;
    }
    const equals = arg.indexOf('=');
    const flag = equals > 0 ? arg.slice(0, equals) : arg;
    if (switchFlags.has(flag) && equals < 0) {
      switches.add(flag);
    } else if (valueFlags.has(flag)) {
      const value = equals > 0 ? arg.slice(equals + 1) : argv[(index += 1)];
      if (value === undefined) throw new UsageError(`${flag} needs a value`);
      values.set(flag, value);
    } else {
      throw new UsageError(`unknown option ${flag}`);
    }
  }
  return { positionals, values, switches };
}

/** `--cache-dir`, else EDGEPIER_CACHE_DIR, else the default that `serve` uses too. */
export function cacheDirectory(args: CommandArgs, env: NodeJS.ProcessEnv): string {
  const given = args.values.get('--cache-dir') ?? env.EDGEPIER_CACHE_DIR;
  const parsed = given === undefined ? defaultCacheDirectory(env) : parseDirectory(given, env);
  if (!parsed.ok) throw new UsageError(`--cache-dir ${parsed.errors.join('; ')}`);
  return parsed.value;
}
