import { isAbsolute, join } from 'node:path';
import type { Environment } from './environment.js';
import { fail, ok, quote, type Parsed } from './parsed.js';

/** A directory path; a leading `~` is expanded with HOME since YAML and env values never pass a shell. */
export function parseDirectory(text: string, env: Environment): Parsed<string> {
  const path = text.trim();
  if (path === '') return fail('is empty: give a directory');
  if (path.includes('\0')) return fail(`${quote(text)} contains a NUL byte`);
  if (path === '~' || path.startsWith('~/')) {
    const home = env.HOME;
    if (home === undefined || home === '') return fail(`${quote(text)} starts with ~ but HOME is not set`);
    return ok(join(home, path.slice(1)));
  }
  return ok(path);
}

/** `$XDG_CACHE_HOME/edgepier` (only if absolute, as the XDG spec says), else `$HOME/.cache/edgepier`. */
export function defaultCacheDirectory(env: Environment): Parsed<string> {
  const xdg = env.XDG_CACHE_HOME;
  if (xdg !== undefined && isAbsolute(xdg)) return ok(join(xdg, 'edgepier'));
  const home = env.HOME;
  if (home !== undefined && home !== '') return ok(join(home, '.cache', 'edgepier'));
  return fail('has no default: neither XDG_CACHE_HOME nor HOME is set, so give a directory');
}
