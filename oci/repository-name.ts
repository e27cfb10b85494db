import { RegistryError } from './registry-error.js';

/** distribution's reference grammar: lower-case path components separated by `/`. */
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$/;
/** A registry host as it may stand first in a Podman-style mirror path (`ghcr.io`, `localhost:5000`). */
const REGISTRY_HOST = /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]{1,5})?$/;
const TAG = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;
/** distribution refuses names longer than this. */
export const MAX_NAME_LENGTH = 255;

export function assertRepositoryName(name: string): void {
  if (name.length === 0 || name.length > MAX_NAME_LENGTH) {
    throw new RegistryError('NAME_INVALID', `invalid repository name length: ${name.length}`);
  }
  for (const component of name.split('/')) {
    if (!PATH_COMPONENT.test(component)) {
      throw new RegistryError('NAME_INVALID', `invalid repository name: ${shorten(name)}`);
    }
  }
}

export function isRegistryHost(segment: string): boolean {
  return REGISTRY_HOST.test(segment) && (segment.includes('.') || segment.includes(':') || segment === 'localhost');
}

export function isTag(text: string): boolean {
  return TAG.test(text);
}

/** For references typed by a user (the CLI): a bad tag there is a bad name, said at once. */
export function assertTag(tag: string): void {
  if (!TAG.test(tag)) throw new RegistryError('NAME_INVALID', `invalid tag: ${shorten(tag)}`);
}

function shorten(text: string): string {
  return text.length > 80 ? `${text.slice(0, 80)}…` : text;
}
