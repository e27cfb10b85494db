import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { renderConfigTable } from '../config/config-table.js';
import type { EdgePierConfig } from '../config/edgepier-config.js';
import { renderHelp, wantsHelp } from '../config/help-text.js';
import { loadConfig } from '../config/load-config.js';
import { printConfig } from '../config/print-config.js';
import { SETTINGS, SETTING_KEYS } from '../config/settings.js';

const SECRET = 'sup3r-s3cret-passw0rd';

function load(argv: string[], env: Record<string, string | undefined> = {}): EdgePierConfig {
  const result = loadConfig({ argv, env: { HOME: '/home/u', ...env } });
  if (!result.ok) assert.fail(JSON.stringify(result.problems));
  return result.config;
}

const CUSTOM_ARGV = [
  '--listen', '[::]:5050',
  '--client-allow', '198.18.0.0/24,fd00::/8',
  '--peer-listen', '[::]:5051',
  '--cache-dir', '/var/cache/ep',
  '--cache-max-size', '30%',
  '--cache-low-water', '75%',
  '--upstream', 'docker.io=https://hub.mirror.corp',
  '--upstream', 'ghcr.io=https://ghcr.io',
  '--upstream-timeout', '1m30s',
  '--tag-timeout', '500ms',
  '--no-mdns',
  '--peers', '10.0.0.2:5000,[fd00::3]:5000',
  '--peer-mode', 'redirect',
  '--peer-timeout', '1s',
  '--proxy-listen', '[::1]:3128',
  '--ca-dir', '/etc/edgepier/ca',
  '--upstream-ca-file', '/etc/ssl/site-ca.pem',
  '--node-id', 'edge-01',
  '--log-level', 'debug',
];
const CREDENTIALS_ENV = { EDGEPIER_CREDENTIALS: JSON.stringify({ 'ghcr.io': { username: 'robot', password: SECRET } }) };

void describe('printConfig', () => {
  void it('masks secrets', () => {
    const config = load(CUSTOM_ARGV, CREDENTIALS_ENV);
    assert.equal(config.credentials['ghcr.io']?.password, SECRET);
    const printed = printConfig(config);
    assert.ok(!printed.includes(SECRET), printed);
    assert.deepEqual((parse(printed) as Record<string, unknown>).credentials, { 'ghcr.io': { username: 'robot', password: '***' } });
  });

  void it('prints YAML that reads back as the same configuration', () => {
    for (const config of [load([]), load(CUSTOM_ARGV)]) {
      const printed = printConfig(config);
      const reloaded = loadConfig({ argv: ['--config', '/printed.yaml'], env: {}, readFile: () => printed });
      if (!reloaded.ok) assert.fail(`${printed}\n${JSON.stringify(reloaded.problems)}`);
      assert.deepEqual({ ...reloaded.config, configFile: null }, config);
    }
  });

  void it('uses the human spellings for durations, sizes and addresses', () => {
    const printed = parse(printConfig(load(CUSTOM_ARGV))) as Record<string, unknown>;
    assert.equal(printed.listen, '[::]:5050');
    assert.equal(printed.upstreamTimeout, '90s');
    assert.equal(printed.tagTimeout, '500ms');
    assert.equal(printed.cacheMaxSize, '30%');
    assert.equal(printed.proxyListen, '[::1]:3128');
    assert.deepEqual(printed.peers, ['10.0.0.2:5000', '[fd00::3]:5000']);
    assert.deepEqual(printed.upstreams, [{ host: 'docker.io', url: 'https://hub.mirror.corp' }, { host: 'ghcr.io', url: 'https://ghcr.io' }]);
  });
});

void describe('renderConfigTable', () => {
  const table = renderConfigTable();
  const rows = table.trim().split('\n');

  void it('has a header, a separator and one row per setting', () => {
    assert.equal(rows[0], '| Flag | Env | YAML key | Default | Description |');
    assert.equal(rows.length, 2 + SETTING_KEYS.length);
  });

  void it('lists every setting by flag, env var and YAML key', () => {
    for (const key of SETTING_KEYS) {
      const spec = SETTINGS[key];
      const row = rows.find((line) => spec.env !== null && line.includes(`\`${spec.env}\``));
      assert.ok(row !== undefined, `no row for ${key}`);
      if (spec.flag !== null) assert.ok(row.includes(`\`${spec.flag}`), `${key}: ${row}`);
      if (spec.yamlKey !== null) assert.ok(row.includes(`\`${spec.yamlKey}\``), `${key}: ${row}`);
      // Five cells: no unescaped | inside a cell.
      assert.equal(row.split(/(?<!\\)\|/).length, 7, row);
    }
  });

  void it('marks the secret and the repeatable settings', () => {
    assert.match(table, /\| — \| `EDGEPIER_CREDENTIALS` \| `credentials` \| none \| Secret: never printed\./);
    assert.match(table, /`--upstream URL\\\|HOST=URL` \(repeatable\)/);
  });
});

void describe('renderHelp', () => {
  void it('documents every flag and every env-only setting', () => {
    const help = renderHelp();
    for (const key of SETTING_KEYS) {
      const spec = SETTINGS[key];
      assert.ok(help.includes(spec.flag ?? spec.env ?? ''), key);
      assert.ok(spec.env === null || help.includes(spec.env), key);
    }
    assert.match(help, /^Usage: edgepier serve \[options\]$/m);
    assert.match(help, /--help, -h/);
    assert.ok(help.split('\n').every((line) => line.length <= 100), 'lines fit in 100 columns');
  });

  void it('detects a help request before loadConfig sees it', () => {
    assert.equal(wantsHelp(['--listen', ':1', '-h']), true);
    assert.equal(wantsHelp(['--', '--help']), false);
    assert.equal(wantsHelp([]), false);
  });
});
