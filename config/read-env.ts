import type { Environment } from './environment.js';
import { splitList } from './parse-argv.js';
import type { SettingKind } from './setting-spec.js';

export interface EnvDeclaration<K extends string> {
  readonly key: K;
  readonly env: string;
  readonly kind: SettingKind;
}

/**
 * Raw texts per setting from EDGEPIER_* variables, trimmed (secrets mounted from files end in
 * a newline). An empty variable counts as unset, as `${VAR}` in compose files expands to ''.
 */
export function readEnv<K extends string>(env: Environment, declarations: readonly EnvDeclaration<K>[]): ReadonlyMap<K, readonly string[]> {
  const values = new Map<K, readonly string[]>();
  for (const { key, env: name, kind } of declarations) {
    const text = env[name]?.trim();
    if (text === undefined || text === '') continue;
    values.set(key, kind === 'list' ? splitList(text) : [text]);
  }
  return values;
}
