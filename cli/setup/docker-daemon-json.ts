import { isIP } from 'node:net';
import { join } from 'node:path';
import type { PlannedFile } from './planned-file.js';
import { mirrorOrigin, type SetupOptions } from './setup-options.js';

/** Thrown when the existing daemon.json cannot be merged safely (it is never overwritten then). */
export class UnmergeableConfigError extends Error {
  override readonly name = 'UnmergeableConfigError';
}

function isLoopback(hostname: string): boolean {
  const bare = hostname.replace(/^\[|\]$/g, '');
  return bare === 'localhost' || bare === '::1' || (isIP(bare) === 4 && bare.startsWith('127.'));
}

function stringList(value: unknown, key: string): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || !value.every((item): item is string => typeof item === 'string')) {
    throw new UnmergeableConfigError(`"${key}" in daemon.json is not a list of strings`);
  }
  return value;
}

/**
 * daemon.json with this node first in `registry-mirrors`; every other key and mirror is
 * kept. Docker talks plain HTTP to a loopback mirror by itself; any other HTTP mirror
 * must also be listed in `insecure-registries`.
 */
export function mergeDaemonJson(existing: string | undefined, mirrorUrl: URL): string {
  let document: Record<string, unknown> = {};
  if (existing !== undefined && existing.trim() !== '') {
    let parsed: unknown;
    try {
      parsed = JSON.parse(existing);
    } catch (error) {
      throw new UnmergeableConfigError(`the existing daemon.json is not valid JSON (${error instanceof Error ? error.message : String(error)})`);
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new UnmergeableConfigError('the existing daemon.json is not a JSON object');
    document = parsed as Record<string, unknown>;
  }
  const mirror = mirrorOrigin(mirrorUrl);
  const mirrors = stringList(document['registry-mirrors'], 'registry-mirrors').filter((entry) => entry.replace(/\/+$/, '') !== mirror);
  const merged: Record<string, unknown> = { ...document, 'registry-mirrors': [mirror, ...mirrors] };
  if (mirrorUrl.protocol === 'http:' && !isLoopback(mirrorUrl.hostname)) {
    const insecure = stringList(document['insecure-registries'], 'insecure-registries');
    if (!insecure.includes(mirrorUrl.host)) merged['insecure-registries'] = [...insecure, mirrorUrl.host];
  }
  return `${JSON.stringify(merged, null, 2)}\n`;
}

/** Docker Engine's `registry-mirrors` only ever applies to Docker Hub. */
export function dockerDaemonFiles(options: SetupOptions): PlannedFile[] {
  return [{ path: join(options.configDir, 'daemon.json'), render: (existing) => mergeDaemonJson(existing, options.mirrorUrl) }];
}
