import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { EdgePierConfig } from '../../config/edgepier-config.js';
import { loadConfig } from '../../config/load-config.js';
import type { HostPort } from '../../config/parse-host-port.js';
import { UsageError, type CommandArgs } from './command-args.js';

/** What a maintenance command needs to know about the node it acts on. */
export interface NodeSettings {
  readonly config: EdgePierConfig;
  readonly cacheDir: string;
  /** Where `serve` keeps the transparent-mode CA. */
  readonly caDir: string;
  /** How a process on this host reaches the node's client API. */
  readonly url: URL;
}

export interface NodeSettingsInput {
  readonly env: NodeJS.ProcessEnv;
  readonly readFile?: (path: string) => string;
}

/**
 * The node's settings exactly as `serve` reads them (flags, EDGEPIER_*, `--config`), with the
 * URL, cache and CA directories derived from them, so a command run beside `serve` (in the
 * same container, unit or pod) needs no flags repeated. `urlOverride` is the command's
 * own `--url`/`--mirror`: a node elsewhere.
 */
export function loadNodeSettings(args: CommandArgs, input: NodeSettingsInput, urlOverride?: { flag: string; value: string | undefined }): NodeSettings {
  const result = loadConfig({ argv: [...args.settingsArgv], env: input.env, readFile: input.readFile ?? ((path) => readFileSync(path, 'utf8')) });
  if (!result.ok) throw new UsageError(`invalid configuration:\n${result.problems.map((p) => `  ${p.setting}: ${p.message}`).join('\n')}`);
  const config = result.config;
  return {
    config,
    cacheDir: config.cacheDir,
    caDir: config.caDir ?? join(config.cacheDir, 'ca'),
    get url(): URL {
      return urlOverride?.value === undefined ? clientUrl(config.listen) : parseNodeUrl(urlOverride.flag, urlOverride.value);
    },
  };
}

/** A wildcard listen address is reached on loopback; a specific one as it is. */
export function clientUrl(listen: HostPort): URL {
  if (listen.port === 0) throw new UsageError('the node listens on port 0 (a port the OS picks): give the node\'s --url');
  const host = listen.host === '' || listen.host === '0.0.0.0' ? '127.0.0.1' : listen.host === '::' ? '::1' : listen.host;
  return new URL(`http://${host.includes(':') ? `[${host}]` : host}:${listen.port}`);
}

function parseNodeUrl(flag: string, text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`${flag} ${JSON.stringify(text)} is not a URL (example: http://127.0.0.1:5000)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`${flag} must be http:// or https://, got ${url.protocol}`);
  return url;
}
