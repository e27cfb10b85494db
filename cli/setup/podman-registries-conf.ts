import { join } from 'node:path';
import type { PlannedFile } from './planned-file.js';
import type { SetupOptions } from './setup-options.js';
import { tomlString } from './toml-string.js';

/** Our drop-in: the main registries.conf is never edited; a later drop-in overrides an earlier entry of the same location. */
export const PODMAN_DROP_IN = 'edgepier.conf';

/**
 * A registries.conf.d drop-in (Podman, Buildah, Skopeo, CRI-O): each registry gets this
 * node as its mirror at `<node>/<registry>`, the form whose first path segment tells the
 * node which upstream is meant. The registry itself stays the fallback.
 */
export function podmanRegistriesFiles(options: SetupOptions): PlannedFile[] {
  const url = options.mirrorUrl;
  const insecure = url.protocol === 'http:';
  const blocks = options.registries.map((host) =>
    [
      '[[registry]]',
      `location = ${tomlString(host)}`,
      '',
      '[[registry.mirror]]',
      `location = ${tomlString(`${url.host}/${host}`)}`,
      `insecure = ${String(insecure)}`,
      '',
    ].join('\n'),
  );
  const header = `# Written by 'edgepier setup podman': pull through the EdgePier node at ${url.origin}.\n\n`;
  return [{ path: join(options.configDir, PODMAN_DROP_IN), render: () => header + blocks.join('\n') }];
}
