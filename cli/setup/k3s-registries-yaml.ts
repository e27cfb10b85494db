import { join } from 'node:path';
import { parseDocument, stringify } from 'yaml';
import { UnmergeableConfigError } from './docker-daemon-json.js';
import type { PlannedFile } from './planned-file.js';
import { mirrorOrigin, type SetupOptions } from './setup-options.js';

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * registries.yaml with this node as the first endpoint of each registry's mirror; every other
 * key (`configs` with credentials and TLS, other mirrors, `rewrite`) is kept. k3s turns it into
 * containerd hosts.toml files at start, with the registry itself as the fallback, and
 * containerd adds `?ns=<host>` to each mirror request, which tells the node the upstream.
 */
export function mergeRegistriesYaml(existing: string | undefined, mirrorUrl: URL, registries: readonly string[]): string {
  let document: Record<string, unknown> = {};
  if (existing !== undefined && existing.trim() !== '') {
    const parsed = parseDocument(existing);
    if (parsed.errors.length > 0) throw new UnmergeableConfigError(`the existing registries.yaml is not valid YAML (${parsed.errors[0]?.message ?? 'parse error'})`);
    const value: unknown = parsed.toJS();
    if (value !== null && value !== undefined && !isObject(value)) throw new UnmergeableConfigError('the existing registries.yaml is not a mapping');
    document = isObject(value) ? value : {};
  }
  const current = document.mirrors ?? {};
  if (!isObject(current)) throw new UnmergeableConfigError('"mirrors" in registries.yaml is not a mapping');
  const mirror = mirrorOrigin(mirrorUrl);
  const mirrors: Record<string, unknown> = { ...current };
  for (const host of registries) {
    const entry = current[host] ?? {};
    if (!isObject(entry)) throw new UnmergeableConfigError(`mirrors.${host} in registries.yaml is not a mapping`);
    const endpoints = entry.endpoint ?? [];
    if (!Array.isArray(endpoints) || !endpoints.every((item): item is string => typeof item === 'string')) {
      throw new UnmergeableConfigError(`mirrors.${host}.endpoint in registries.yaml is not a list of strings`);
    }
    mirrors[host] = { ...entry, endpoint: [mirror, ...endpoints.filter((item) => item.replace(/\/+$/, '') !== mirror)] };
  }
  const header = `# Written by 'edgepier setup k3s': pull through the EdgePier node at ${mirror}. k3s reads this at start.\n`;
  return header + stringify({ ...document, mirrors });
}

/** k3s (and RKE2, with --config-dir /etc/rancher/rke2) read one registries.yaml. */
export function k3sRegistriesFiles(options: SetupOptions): PlannedFile[] {
  return [{ path: join(options.configDir, 'registries.yaml'), render: (existing) => mergeRegistriesYaml(existing, options.mirrorUrl, options.registries) }];
}
