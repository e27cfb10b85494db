import { fail, isPlainObject, ok, type Parsed } from './parsed.js';
import { parseRegistryHost } from './registry-host.js';

export interface RegistryCredential {
  readonly username: string;
  readonly password: string;
}

/** Registry host (`docker.io`, `ghcr.io`) → login for that upstream. */
export type Credentials = Readonly<Record<string, RegistryCredential>>;

export const SECRET_MASK = '***';

/**
 * EDGEPIER_CREDENTIALS: JSON of the YAML shape. JSON.parse's own message quotes the input,
 * which holds passwords, so only the position is reported.
 */
export function parseCredentialsJson(text: string): Parsed<Credentials> {
  let value: unknown;
  try {
    value = JSON.parse(text) as unknown;
  } catch (error) {
    const position = error instanceof Error ? /position (\d+)/.exec(error.message)?.[1] : undefined;
    return fail(`is not valid JSON${position === undefined ? '' : ` (error near character ${position})`}; expected {"<registry host>": {"username": "...", "password": "..."}}`);
  }
  return parseCredentialsValue(value);
}

/** `{ "<registry host>": { username, password } }`. Messages name hosts and fields, never values. */
export function parseCredentialsValue(value: unknown): Parsed<Credentials> {
  if (!isPlainObject(value)) {
    return fail(`expected a mapping of registry host to {username, password}, got ${kindOf(value)}`);
  }
  const errors: string[] = [];
  const credentials = new Map<string, RegistryCredential>();
  for (const [hostText, entry] of Object.entries(value)) {
    // Validated before use as a key, so `__proto__` and friends never reach a map.
    const host = parseRegistryHost(hostText);
    if (!host.ok) {
      errors.push(...host.errors);
      continue;
    }
    if (credentials.has(host.value)) errors.push(`registry host ${host.value} is given twice`);
    const credential = parseCredential(host.value, entry);
    if (credential.ok) credentials.set(host.value, credential.value);
    else errors.push(...credential.errors);
  }
  return errors.length > 0 ? fail(...errors) : ok(Object.fromEntries(credentials));
}

function parseCredential(host: string, entry: unknown): Parsed<RegistryCredential> {
  if (!isPlainObject(entry)) return fail(`${host}: expected {username, password}, got ${kindOf(entry)}`);
  const errors = Object.keys(entry)
    .filter((key) => key !== 'username' && key !== 'password')
    .map((key) => `${host}: unknown field ${JSON.stringify(key)} (expected username and password)`);
  const { username, password } = entry;
  if (typeof username !== 'string' || username === '') {
    errors.push(`${host}: username must be a non-empty string, got ${kindOf(username)}`);
  }
  if (typeof password !== 'string' || password === '') {
    errors.push(`${host}: password must be a non-empty string, got ${kindOf(password)}`);
  }
  if (errors.length > 0 || typeof username !== 'string' || typeof password !== 'string') return fail(...errors);
  return ok({ username, password });
}

/** The kind of a value, never its content: these values are secrets. */
function kindOf(value: unknown): string {
  if (value === null || value === undefined) return 'nothing';
  if (value === '') return 'an empty string';
  if (Array.isArray(value)) return 'a list';
  return typeof value === 'object' ? 'a mapping' : `a ${typeof value}`;
}

export function maskCredentials(credentials: Credentials): Record<string, { username: string; password: string }> {
  return Object.fromEntries(
    Object.entries(credentials).map(([host, { username }]) => [host, { username, password: SECRET_MASK }]),
  );
}
