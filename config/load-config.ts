import { readFileSync } from 'node:fs';
import type { ConfigProblem } from './config-problem.js';
import { crossCheck } from './cross-checks.js';
import type { EdgePierConfig, SettingKey } from './edgepier-config.js';
import { parseArgv, type FlagDeclaration } from './parse-argv.js';
import type { Parsed } from './parsed.js';
import { readConfigFile, type YamlDeclaration } from './read-config-file.js';
import { readEnv, type EnvDeclaration } from './read-env.js';
import { settingName, type ParseContext } from './setting-spec.js';
import { SETTINGS, SETTING_KEYS } from './settings.js';

export type { ConfigProblem } from './config-problem.js';

export type ConfigSource = 'flag' | 'env' | 'file' | 'default';

/** `sources` is keyed by setting key (`listen`, `cacheDir`, ... as in EdgePierConfig). */
export type LoadResult =
  | { ok: true; config: EdgePierConfig; sources: Record<string, ConfigSource> }
  | { ok: false; problems: ConfigProblem[] };

export interface LoadConfigInput {
  /** Arguments after the subcommand: the CLI handles `--help` before calling. */
  argv: string[];
  env: Record<string, string | undefined>;
  /** Reads the `--config` file; defaults to reading it from disk as UTF-8. */
  readFile?: (path: string) => string;
}

interface Layers {
  readonly flags: ReadonlyMap<SettingKey, readonly string[]>;
  readonly env: ReadonlyMap<SettingKey, readonly string[]>;
  readonly file: ReadonlyMap<SettingKey, unknown>;
  readonly filePath: string | null;
  readonly context: ParseContext;
}

type Resolution<K extends SettingKey> = { readonly source: ConfigSource; readonly parsed: Parsed<EdgePierConfig[K]> };

/**
 * Builds the configuration from flags > EDGEPIER_* env > YAML file > defaults and validates
 * all of it, returning every problem at once. Only the value that wins is validated, so a
 * flag can override a broken file value; unknown flags and unknown file keys are always errors.
 */
export function loadConfig(input: LoadConfigInput): LoadResult {
  const readFile = input.readFile ?? ((path: string) => readFileSync(path, 'utf8'));
  const context: ParseContext = { env: input.env };
  const argv = parseArgv(input.argv, flagDeclarations());
  const problems: ConfigProblem[] = [...argv.problems];
  const layers: Omit<Layers, 'file' | 'filePath'> = { flags: argv.values, env: readEnv(input.env, envDeclarations()), context };

  const configFile = resolve('configFile', { ...layers, file: new Map(), filePath: null });
  let file: ReadonlyMap<SettingKey, unknown> = new Map();
  if (configFile.parsed.ok && configFile.parsed.value !== null) {
    const contents = readConfigFile(configFile.parsed.value, readFile, settingName(SETTINGS.configFile), yamlDeclarations());
    file = contents.values;
    problems.push(...contents.problems);
  }
  const allLayers: Layers = { ...layers, file, filePath: configFile.parsed.ok ? configFile.parsed.value : null };

  const config: Partial<Record<SettingKey, unknown>> = {};
  const sources: Record<string, ConfigSource> = {};
  for (const key of SETTING_KEYS) {
    const { source, parsed } = resolve(key, allLayers);
    sources[key] = source;
    if (parsed.ok) {
      config[key] = parsed.value;
    } else {
      const origin = describeOrigin(key, source, allLayers.filePath);
      for (const error of parsed.errors) problems.push({ setting: settingName(SETTINGS[key]), message: `${error}${origin}` });
    }
  }
  if (problems.length > 0) return { ok: false, problems };
  // Every key resolved without error, so every field is set.
  const complete = config as EdgePierConfig;
  const crossProblems = crossCheck(complete);
  if (crossProblems.length > 0) return { ok: false, problems: crossProblems };
  return { ok: true, config: complete, sources };
}

function resolve<K extends SettingKey>(key: K, layers: Layers): Resolution<K> {
  const spec = SETTINGS[key];
  const fromFlag = layers.flags.get(key);
  if (fromFlag !== undefined) return { source: 'flag', parsed: spec.fromText(fromFlag, layers.context) };
  const fromEnv = layers.env.get(key);
  if (fromEnv !== undefined) return { source: 'env', parsed: spec.fromText(fromEnv, layers.context) };
  if (layers.file.has(key)) return { source: 'file', parsed: spec.fromYaml(layers.file.get(key), layers.context) };
  return { source: 'default', parsed: spec.defaultValue(layers.context) };
}

/** ` (from EDGEPIER_LISTEN)` and the like; nothing for a flag, which the problem already names, or a default. */
function describeOrigin(key: SettingKey, source: ConfigSource, filePath: string | null): string {
  const spec = SETTINGS[key];
  switch (source) {
    case 'flag':
    case 'default':
      return '';
    case 'env':
      return ` (from ${spec.env ?? 'the environment'})`;
    case 'file':
      return ` (from ${filePath ?? 'the config file'}, key ${spec.yamlKey ?? key})`;
  }
}

function flagDeclarations(): FlagDeclaration<SettingKey>[] {
  return SETTING_KEYS.flatMap((key) => {
    const { flag, kind, secret } = SETTINGS[key];
    return flag === null || secret ? [] : [{ key, flag, kind }];
  });
}

function envDeclarations(): EnvDeclaration<SettingKey>[] {
  return SETTING_KEYS.flatMap((key) => {
    const { env, kind } = SETTINGS[key];
    return env === null ? [] : [{ key, env, kind }];
  });
}

function yamlDeclarations(): YamlDeclaration<SettingKey>[] {
  return SETTING_KEYS.flatMap((key) => {
    const { yamlKey } = SETTINGS[key];
    return yamlKey === null ? [] : [{ key, yamlKey }];
  });
}
