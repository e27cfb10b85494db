// deploy/systemd as shipped: the unit is exactly what `edgepier setup systemd` renders, systemd's
// own verifier accepts it without a warning, its exposure score is low, and the readiness
// check it runs (`edgepier status --wait`) holds until the node is ready and fails when it never is.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, cp, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { renderSystemdUnit } from '../cli/setup/systemd-unit.js';
import { setupCommand } from '../cli/setup/setup-command.js';
import { getFreePort, startProcess } from './support/child-process.js';
import { runEdgepier } from './support/run-edgepier.js';
import { makeTempDir } from './support/temp-dir.js';

const ROOT = join(import.meta.dirname, '..');
const SHIPPED = join(ROOT, 'deploy', 'systemd', 'edgepier.service');
const ANALYZE = '/usr/bin/systemd-analyze';
const SYSTEM_UNITS = '/usr/lib/systemd/system';

function skipReason(): string | false {
  if (!existsSync(ANALYZE)) return `${ANALYZE} is missing: apt-get install -y systemd`;
  if (!existsSync(SYSTEM_UNITS)) return `${SYSTEM_UNITS} is missing (the targets the unit orders against)`;
  return false;
}

/** systemd-analyze's exit code and everything it printed; it exits 0 even on warnings. */
function analyze(args: string[]): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(ANALYZE, args, { timeout: 60_000, killSignal: 'SIGKILL', env: { ...process.env, SYSTEMD_LOG_COLOR: '0', SYSTEMD_COLORS: '0' } }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, output: `${stdout}${stderr}` });
    });
  });
}

describe('deploy/systemd', () => {
  test('the shipped unit is what `setup systemd` renders for /usr/bin/edgepier', async () => {
    assert.equal(await readFile(SHIPPED, 'utf8'), renderSystemdUnit(['/usr/bin/edgepier'], []));
  });

  test('systemd-analyze verify accepts the shipped unit without a warning; exposure is low', { skip: skipReason() }, async (t) => {
    // A root with this machine's system units and the CLI where the unit expects it, so the
    // file is verified verbatim (verify also checks that ExecStart exists).
    const root = await makeTempDir('systemd-root');
    t.after(() => root.remove());
    await cp(SYSTEM_UNITS, join(root.path, 'usr', 'lib', 'systemd', 'system'), { recursive: true });
    await mkdir(join(root.path, 'usr', 'bin'), { recursive: true });
    await writeFile(join(root.path, 'usr', 'bin', 'edgepier'), '#!/bin/sh\n');
    await chmod(join(root.path, 'usr', 'bin', 'edgepier'), 0o755);
    const unit = join(root.path, 'etc', 'systemd', 'system', 'edgepier.service');
    await mkdir(join(root.path, 'etc', 'systemd', 'system'), { recursive: true });
    await cp(SHIPPED, unit);
    const verified = await analyze(['verify', `--root=${root.path}`, unit]);
    assert.deepEqual(verified, { code: 0, output: '' });

    // The verifier is not a rubber stamp: a bad value and an unknown key are reported.
    await writeFile(unit, (await readFile(SHIPPED, 'utf8')).replace('ProtectSystem=strict', 'ProtectSystem=bogus\nNoSuchSetting=1'));
    const broken = await analyze(['verify', `--root=${root.path}`, unit]);
    assert.match(broken.output, /protect system value/i);
    assert.match(broken.output, /NoSuchSetting/);

    const security = await analyze(['security', '--offline=yes', SHIPPED]);
    const exposure = Number(/Overall exposure level for edgepier\.service: ([\d.]+)/.exec(security.output)?.[1]);
    assert.ok(exposure <= 2.0, `exposure ${exposure} (systemd's scale: 0 safest, 10 unprotected)`);
    t.diagnostic(`systemd-analyze security exposure: ${exposure}`);
  });

  test('setup systemd --write: a unit for this installation with the settings given, verified by systemd', { skip: skipReason() }, async (t) => {
    const dir = await makeTempDir('setup-systemd');
    t.after(() => dir.remove());
    let out = '';
    let err = '';
    const executable = [process.execPath, '--import', 'tsx', join(ROOT, 'cli', 'main.ts')];
    const code = await setupCommand(['systemd', '--write', '--config-dir', dir.path, '--listen', '127.0.0.1:5123', '--upstream', 'ghcr.io=https://ghcr.io', '--cache-max-size', '50%'], {
      out: (text) => (out += text),
      err: (text) => (err += text),
      env: { HOME: '/home/edgepier-test' },
      executable,
    });
    assert.equal(code, 0, err);
    assert.match(out, /edgepier\.service: created/);
    assert.match(err, /systemctl daemon-reload && systemctl enable --now edgepier/);
    const unit = await readFile(join(dir.path, 'edgepier.service'), 'utf8');
    const settings = '--listen=127.0.0.1:5123 --upstream=ghcr.io=https://ghcr.io --cache-max-size=50%%';
    assert.ok(unit.includes(`ExecStart=${executable.join(' ')} serve ${settings}\n`), unit);
    assert.ok(unit.includes(`ExecStartPost=${executable.join(' ')} status --wait 60s ${settings}\n`), 'the readiness check asks the node those settings name');
    const verified = await analyze(['verify', join(dir.path, 'edgepier.service')]);
    assert.deepEqual(verified, { code: 0, output: '' });
  });

  test('the readiness check: status --wait holds until the node is ready, and fails naming the URL when it never is', async (t) => {
    const port = await getFreePort();
    const env = { PATH: process.env.PATH, HOME: '/home/edgepier-test', EDGEPIER_LISTEN: `127.0.0.1:${port}`, EDGEPIER_PEER_LISTEN: '127.0.0.1:0' };
    const never = await runEdgepier(['status', '--wait', '1s'], { env });
    assert.equal(never.code, 1);
    assert.match(never.stderr, new RegExp(`not ready after 1000 ms: cannot reach http://127\\.0\\.0\\.1:${port}/readyz`));

    const work = await makeTempDir('systemd-ready');
    t.after(() => work.remove());
    // The check starts first, as ExecStartPost may, and the node comes up while it waits.
    const waiting = runEdgepier(['status', '--wait', '60s'], { env, timeoutMs: 90_000 });
    const node = startProcess(process.execPath, ['--import', 'tsx', join(ROOT, 'cli', 'main.ts'), 'serve', '--cache-dir', work.path, '--no-mdns', '--upstream', 'http://127.0.0.1:9'], { env, name: 'edgepier-ready' });
    t.after(() => node.stop());
    const ready = await waiting;
    assert.equal(ready.code, 0, ready.stderr);
    assert.match(ready.stdout, /^EdgePier node /);
  });
});
