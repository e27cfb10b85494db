// The README's configuration table is generated from config/settings.ts; this fails when
// someone changes a setting without running `npm run docs:config`.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { renderConfigTable } from '../config/config-table.js';
import { SETTINGS, SETTING_KEYS } from '../config/settings.js';
import { readConfigBlock, replaceConfigBlock, TABLE_END, TABLE_START } from '../scripts/readme-config-block.js';

const README = join(import.meta.dirname, '..', 'README.md');

describe('README configuration table', () => {
  test('the block between the markers is exactly what the schema renders (run npm run docs:config)', async () => {
    const readme = await readFile(README, 'utf8');
    const block = readConfigBlock(readme);
    assert.ok(block !== undefined, `README.md has one ${TABLE_START} … ${TABLE_END} block`);
    assert.equal(block, `\n${renderConfigTable()}`, 'README.md config table is stale: run npm run docs:config');
  });

  test('every setting has a row, named by its env var', async () => {
    const block = readConfigBlock(await readFile(README, 'utf8')) ?? '';
    for (const key of SETTING_KEYS) {
      const env = SETTINGS[key].env;
      if (env !== null) assert.ok(block.includes(`\`${env}\``), `${key} (${env}) is in the table`);
    }
  });

  test('regenerating keeps everything outside the markers byte for byte', () => {
    const readme = `# Title\n\nintro\n\n${TABLE_START}\nold table\n${TABLE_END}\n\n## After\ntext\n`;
    const updated = replaceConfigBlock(readme, '| a |\n');
    assert.equal(updated, `# Title\n\nintro\n\n${TABLE_START}\n| a |\n${TABLE_END}\n\n## After\ntext\n`);
    assert.equal(replaceConfigBlock(updated, '| a |\n'), updated, 'idempotent');
    assert.throws(() => replaceConfigBlock('no markers', '| a |'), /config-table:start/);
    assert.equal(readConfigBlock(`${TABLE_END}${TABLE_START}`), undefined, 'markers out of order');
  });
});
