// Rewrites README.md's configuration table (between the config-table markers) from the
// settings schema. `--check` only reports whether it is stale (exit 1), for CI.
//   node --import tsx scripts/generate-config-table.ts [--check]
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderConfigTable } from '../config/config-table.js';
import { replaceConfigBlock } from './readme-config-block.js';

const readmePath = join(import.meta.dirname, '..', 'README.md');
const readme = readFileSync(readmePath, 'utf8');
const updated = replaceConfigBlock(readme, renderConfigTable());
if (process.argv.includes('--check')) {
  if (updated !== readme) {
    process.stderr.write('README.md: the configuration table is stale; run npm run docs:config\n');
    process.exitCode = 1;
  }
} else if (updated === readme) {
  process.stdout.write('README.md: configuration table already up to date\n');
} else {
  writeFileSync(readmePath, updated);
  process.stdout.write('README.md: configuration table regenerated\n');
}
