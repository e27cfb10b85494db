import { isIPv6 } from 'node:net';
import { fail, ok, quote, type Parsed } from './parsed.js';

export const DOCKER_HUB_HOST = 'docker.io';
export const DOCKER_HUB_URL = 'https://registry-1.docker.io';
/**
 * Docker Hub answers on these API hosts, but images name it `docker.io`. The one list: the
 * mirror's router, the config parsers and the CLI's image references all fold through it.
 */
const DOCKER_HUB_ALIASES: ReadonlySet<string> = new Set(['docker.io', 'registry-1.docker.io', 'index.docker.io', 'registry.hub.docker.com']);

const NAME_WITH_PORT = /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*(?::\d{1,5})?$/;
const BRACKETED_WITH_PORT = /^\[([0-9a-f:.]+)\](?::\d{1,5})?$/;

/** Lower-cased, with Docker Hub's API hosts folded into `docker.io`. */
export function canonicalRegistryHost(host: string): string {
  const lower = host.toLowerCase();
  return DOCKER_HUB_ALIASES.has(lower) ? DOCKER_HUB_HOST : lower;
}

/**
 * A registry host as the first component of an image name: `ghcr.io`, `localhost:5000`,
 * `[::1]:5000`. Like docker's reference rule it needs a dot, a port or to be `localhost`;
 * otherwise `myreg/app` reads as a Docker Hub namespace and the mapping would never match.
 */
export function parseRegistryHost(text: string): Parsed<string> {
  const host = canonicalRegistryHost(text.trim());
  const bracketed = BRACKETED_WITH_PORT.exec(host);
  if (bracketed !== null) {
    return isIPv6(bracketed[1] ?? '') ? ok(host) : fail(`${quote(text)} is not a registry host`);
  }
  if (!NAME_WITH_PORT.test(host)) return fail(`${quote(text)} is not a registry host (example: ghcr.io, localhost:5000)`);
  if (!host.includes('.') && !host.includes(':') && host !== 'localhost') {
    return fail(`${quote(text)} is not a registry host: it needs a dot or a port (image names read "${host}/app" as a Docker Hub namespace)`);
  }
  return ok(host);
}
