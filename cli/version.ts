import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * This installation's version, from its package.json: two levels up from cli/ in the source
 * tree, three from dist/cli/ in a build. Read once, at the call, never at import.
 */
export function edgepierVersion(): string {
  let directory = dirname(fileURLToPath(import.meta.url));
  for (let depth = 0; depth < 4; depth += 1) {
    directory = dirname(directory);
    try {
      const manifest = JSON.parse(readFileSync(join(directory, 'package.json'), 'utf8')) as { name?: unknown; version?: unknown };
      if (manifest.name === 'edgepier' && typeof manifest.version === 'string') return manifest.version;
    } catch {
      // No package.json at this level: look one further up.
    }
  }
  return 'unknown';
}
