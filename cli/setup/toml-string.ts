/**
 * A TOML basic string. JSON's escapes (`\"`, `\\`, `\n`, `\u0000`) are all valid TOML, and
 * every value we write (hosts, URLs) was validated before, so this is only a safety net.
 */
export function tomlString(value: string): string {
  return JSON.stringify(value);
}
