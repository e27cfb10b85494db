export interface AuthChallenge {
  readonly scheme: 'bearer' | 'basic';
  readonly parameters: Readonly<Record<string, string>>;
}

const PARAMETER = /([a-zA-Z_][a-zA-Z0-9_-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))/g;

/**
 * Parses the first Bearer or Basic challenge of a WWW-Authenticate header
 * (`Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="..."`).
 * Registries send one challenge; anything we cannot read is undefined, not a guess.
 */
export function parseWwwAuthenticate(header: string | string[] | undefined): AuthChallenge | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (!value) return undefined;
  const match = /^\s*(bearer|basic)\b(.*)$/i.exec(value);
  if (!match) return undefined;
  const scheme = (match[1] ?? '').toLowerCase() === 'bearer' ? 'bearer' : 'basic';
  const parameters: Record<string, string> = {};
  for (const parameter of (match[2] ?? '').matchAll(PARAMETER)) {
    const [, name = '', quoted, bare] = parameter;
    parameters[name.toLowerCase()] = quoted !== undefined ? quoted.replace(/\\(.)/g, '$1') : (bare ?? '');
  }
  return { scheme, parameters };
}

/**
 * The token endpoint a Bearer challenge names, when it is a parseable http(s) URL; undefined
 * otherwise. A registry's header is network input: `realm="http://"` must be refused here,
 * not reach `new URL` and throw a TypeError in the middle of a pull.
 */
export function challengeRealm(challenge: AuthChallenge): URL | undefined {
  const realm = challenge.parameters.realm;
  if (realm === undefined || !/^https?:\/\//.test(realm) || !URL.canParse(realm)) return undefined;
  return new URL(realm);
}
