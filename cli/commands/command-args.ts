import { parseArgs } from 'node:util';
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
 * Parses argv for one subcommand with `util.parseArgs` (strict: unknown flags are errors, a
 * typo must not silently pin nothing). The serve settings have their own schema and parser
 * (config/parse-argv.ts); these few commands need no more than this.
 */
export function parseCommandArgs(argv: readonly string[], spec: { values?: readonly string[]; switches?: readonly string[] }): CommandArgs {
  const options: Record<string, { type: 'string' | 'boolean' }> = {};
  for (const flag of spec.values ?? []) options[flag.replace(/^--/, '')] = { type: 'string' };
  for (const flag of spec.switches ?? []) options[flag.replace(/^--/, '')] = { type: 'boolean' };
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: [...argv], options, strict: true, allowPositionals: true });
  } catch (error) {
    throw new UsageError(usageMessage(error));
  }
  const values = new Map<string, string>();
  const switches = new Set<string>();
  for (const [name, value] of Object.entries(parsed.values)) {
    if (typeof value === 'string') values.set(`--${name}`, value);
    else if (value === true) switches.add(`--${name}`);
  }
  return { positionals: parsed.positionals, values, switches };
}

/** parseArgs's first line names the flag ("Option '--cache-dir <value>' argument missing"); the rest is advice for scripts. */
function usageMessage(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const flag = /'(-[^' ]*)/.exec(message)?.[1];
  if ((error as { code?: unknown }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && flag) return `unknown option ${flag}`;
  return message.split('\n')[0] ?? message;
}

/** `--cache-dir`, else EDGEPIER_CACHE_DIR, else the default that `serve` uses too. */
export function cacheDirectory(args: CommandArgs, env: NodeJS.ProcessEnv): string {
  const given = args.values.get('--cache-dir') ?? env.EDGEPIER_CACHE_DIR;
  const parsed = given === undefined ? defaultCacheDirectory(env) : parseDirectory(given, env);
  if (!parsed.ok) throw new UsageError(`--cache-dir ${parsed.errors.join('; ')}`);
  return parsed.value;
}
