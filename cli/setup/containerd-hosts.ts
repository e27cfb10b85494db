import { join } from 'node:path';
import { DOCKER_HUB_HOST, DOCKER_HUB_URL } from '../../config/registry-host.js';
import type { PlannedFile } from './planned-file.js';
import { mirrorOrigin, type SetupOptions } from './setup-options.js';
import { tomlString } from './toml-string.js';

/** Where containerd falls back to when the mirror cannot answer: the registry itself. */
export function upstreamServer(host: string): string {
  return host === DOCKER_HUB_HOST ? DOCKER_HUB_URL : `https://${host}`;
}

/** containerd reads `<certs.d>/<host>/hosts.toml`; a port stays in the directory name. */
function hostDirectory(host: string): string {
  return host.replace(/^\[(.*)\](:\d+)?$/, '$1$2');
}

/**
 * One `hosts.toml` per registry: pull and resolve through this node first, the registry
 * itself as the fallback. containerd adds `?ns=<host>` to every mirror request, which is
 * how the node knows which upstream is meant.
 */
export function containerdHostsFiles(options: SetupOptions): PlannedFile[] {
  const mirror = mirrorOrigin(options.mirrorUrl);
  return options.registries.map((host) => ({
    path: join(options.configDir, hostDirectory(host), 'hosts.toml'),
    render: () =>
      [
        `# Written by 'edgepier setup containerd': pull ${host} through the EdgePier node at ${mirror}.`,
        `server = ${tomlString(upstreamServer(host))}`,
        '',
        `[host.${tomlString(mirror)}]`,
        '  capabilities = ["pull", "resolve"]',
        '',
      ].join('\n'),
  }));
}
