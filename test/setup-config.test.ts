// `edgepier setup`: each runtime's output is parsed back with a real parser (smol-toml for
// containerd's hosts.toml and Podman's registries.conf, JSON.parse for daemon.json), and
// --write merges, backs up and never clobbers what it cannot parse.
import assert from 'node:assert/strict';
import { chmod, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { parse } from 'smol-toml';
import { setupCommand } from '../cli/setup/setup-command.js';
import { makeTempDir } from './support/temp-dir.js';

interface Run {
  code: number;
  out: string;
  err: string;
  /** Printed files: the path announced on stderr, then what followed on stdout. */
  files: Map<string, string>;
}

async function run(args: string[], now = new Date('2025-03-04T05:06:07.890Z')): Promise<Run> {
  let out = '';
  let err = '';
  const files = new Map<string, string>();
  let current: string | undefined;
  const code = await setupCommand(args, {
    out: (text) => {
      out += text;
      if (current !== undefined) files.set(current, (files.get(current) ?? '') + text);
    },
    err: (text) => {
      err += text;
      const announced = /^edgepier setup \w+: (\/.*)\n$/.exec(text);
      if (announced?.[1] !== undefined) current = announced[1];
    },
    now: () => now,
    // Only the settings this test gives: none from the machine running it.
    env: { HOME: '/home/edgepier-test' },
  });
  return { code, out, err, files };
}

/** smol-toml builds null-prototype objects; compare them as plain data. */
function parseToml(text: string): Record<string, unknown> {
  return JSON.parse(JSON.stringify(parse(text))) as Record<string, unknown>;
}

async function tempDir(t: TestContext): Promise<string> {
  const dir = await makeTempDir('setup');
  t.after(() => dir.remove());
  return dir.path;
}

describe('edgepier setup containerd', () => {
  test('prints one hosts.toml per registry; docker.io falls back to registry-1.docker.io', async () => {
    const result = await run(['containerd', '--registry', 'docker.io', '--registry', 'ghcr.io,registry.example:5443', '--config-dir', '/etc/containerd/certs.d']);
    assert.equal(result.code, 0, result.err);
    const files = result.files;
    assert.deepEqual([...files.keys()], [
      '/etc/containerd/certs.d/docker.io/hosts.toml',
      '/etc/containerd/certs.d/ghcr.io/hosts.toml',
      '/etc/containerd/certs.d/registry.example:5443/hosts.toml',
    ]);
    const hub = parseToml(files.get('/etc/containerd/certs.d/docker.io/hosts.toml') ?? '');
    assert.deepEqual(hub, { server: 'https://registry-1.docker.io', host: { 'http://127.0.0.1:5000': { capabilities: ['pull', 'resolve'] } } });
    const ghcr = parseToml(files.get('/etc/containerd/certs.d/ghcr.io/hosts.toml') ?? '');
    assert.equal(ghcr.server, 'https://ghcr.io');
    assert.match(result.err, /config_path/);
  });

  test('--mirror-url is used as given; index.docker.io is Docker Hub; duplicates collapse', async () => {
    const result = await run(['containerd', '--mirror-url', 'http://10.0.0.7:5001', '--registry', 'index.docker.io', '--registry', 'docker.io']);
    assert.equal(result.code, 0, result.err);
    const files = result.files;
    assert.deepEqual([...files.keys()], ['/etc/containerd/certs.d/docker.io/hosts.toml']);
    const parsed = parseToml([...files.values()][0] ?? '') as { host: Record<string, unknown> };
    assert.deepEqual(Object.keys(parsed.host), ['http://10.0.0.7:5001']);
  });

  test('--write creates the files, backs up a changed one with a timestamp, leaves an identical one alone', async (t) => {
    const dir = await tempDir(t);
    const first = await run(['containerd', '--write', '--config-dir', dir]);
    assert.equal(first.code, 0, first.err);
    const path = join(dir, 'docker.io', 'hosts.toml');
    assert.match(first.out, /hosts\.toml: created/);
    const written = await readFile(path, 'utf8');
    assert.equal((parseToml(written) as { server: string }).server, 'https://registry-1.docker.io');

    const again = await run(['containerd', '--write', '--config-dir', dir]);
    assert.match(again.out, /hosts\.toml: unchanged/);
    assert.deepEqual(await readdir(join(dir, 'docker.io')), ['hosts.toml'], 'no backup of identical content');

    await writeFile(path, 'server = "https://old.example"\n');
    await chmod(path, 0o600);
    const replaced = await run(['containerd', '--write', '--config-dir', dir, '--mirror-url', 'http://127.0.0.1:5999']);
    assert.equal(replaced.code, 0, replaced.err);
    assert.match(replaced.out, /replaced \(previous copy: .*hosts\.toml\.bak-20250304T050607Z\)/);
    assert.equal(await readFile(`${path}.bak-20250304T050607Z`, 'utf8'), 'server = "https://old.example"\n');
    assert.equal((await stat(path)).mode & 0o777, 0o600, 'the file keeps its mode');
    assert.ok((await readFile(path, 'utf8')).includes('http://127.0.0.1:5999'));
  });

  test('bad input: every problem reported at once, exit 2, nothing written', async () => {
    const result = await run(['containerd', '--registry', 'not_a_host!', '--mirror-url', 'ftp://x', '--bogus']);
    assert.equal(result.code, 2);
    assert.match(result.err, /not a registry host/);
    assert.match(result.err, /http:\/\/ or https:\/\//);
    assert.match(result.err, /unknown option --bogus/);
    const badRuntime = await run(['kubernetes']);
    assert.equal(badRuntime.code, 2);
    assert.match(badRuntime.err, /unknown runtime 'kubernetes'/);
    assert.match((await run(['containerd', '--mirror-url', 'http://127.0.0.1:5000/v2'])).err, /scheme, host and port only/);
  });
});

describe('edgepier setup docker', () => {
  test('prints daemon.json with this node as the first registry mirror', async (t) => {
    const dir = await tempDir(t);
    const result = await run(['docker', '--config-dir', dir]);
    assert.equal(result.code, 0, result.err);
    const files = result.files;
    assert.deepEqual(JSON.parse(files.get(join(dir, 'daemon.json')) ?? ''), { 'registry-mirrors': ['http://127.0.0.1:5000'] });
  });

  test('--write merges into the existing daemon.json: other keys and mirrors kept, a backup made', async (t) => {
    const dir = await tempDir(t);
    const path = join(dir, 'daemon.json');
    const original = JSON.stringify({ 'log-driver': 'journald', 'registry-mirrors': ['https://mirror.example', 'http://127.0.0.1:5000/'], 'insecure-registries': ['reg.local:5000'] });
    await writeFile(path, original);
    const result = await run(['docker', '--write', '--config-dir', dir, '--mirror-url', 'http://10.1.2.3:5000']);
    assert.equal(result.code, 0, result.err);
    const merged = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
    assert.deepEqual(merged, {
      'log-driver': 'journald',
      'registry-mirrors': ['http://10.1.2.3:5000', 'https://mirror.example', 'http://127.0.0.1:5000/'],
      'insecure-registries': ['reg.local:5000', '10.1.2.3:5000'],
    });
    assert.equal(await readFile(join(dir, 'daemon.json.bak-20250304T050607Z'), 'utf8'), original);
    const again = await run(['docker', '--write', '--config-dir', dir, '--mirror-url', 'http://10.1.2.3:5000']);
    assert.match(again.out, /unchanged/, 'merging twice changes nothing');
  });

  test('an unparseable daemon.json is never overwritten', async (t) => {
    const dir = await tempDir(t);
    const path = join(dir, 'daemon.json');
    await writeFile(path, '{"registry-mirrors": [');
    const result = await run(['docker', '--write', '--config-dir', dir]);
    assert.equal(result.code, 1);
    assert.match(result.err, /not valid JSON.*nothing was written/);
    assert.equal(await readFile(path, 'utf8'), '{"registry-mirrors": [');
    assert.deepEqual(await readdir(dir), ['daemon.json']);
    await writeFile(path, '{"registry-mirrors": "http://x"}');
    assert.match((await run(['docker', '--write', '--config-dir', dir])).err, /not a list of strings/);
  });

  test('registries other than Docker Hub are refused with the reason', async () => {
    const result = await run(['docker', '--registry', 'ghcr.io']);
    assert.equal(result.code, 2);
    assert.match(result.err, /Docker Hub only/);
  });
});

describe('edgepier setup podman', () => {
  test('a registries.conf.d drop-in with a <node>/<registry> mirror per registry', async (t) => {
    const dir = await tempDir(t);
    const result = await run(['podman', '--config-dir', dir, '--registry', 'docker.io', '--registry', 'ghcr.io']);
    assert.equal(result.code, 0, result.err);
    const files = result.files;
    assert.deepEqual([...files.keys()], [join(dir, 'edgepier.conf')]);
    assert.deepEqual(parseToml(files.get(join(dir, 'edgepier.conf')) ?? ''), {
      registry: [
        { location: 'docker.io', mirror: [{ location: '127.0.0.1:5000/docker.io', insecure: true }] },
        { location: 'ghcr.io', mirror: [{ location: '127.0.0.1:5000/ghcr.io', insecure: true }] },
      ],
    });
  });

  test('--write puts only the drop-in in place; the main registries.conf is untouched', async (t) => {
    const root = await tempDir(t);
    const main = join(root, 'registries.conf');
    await writeFile(main, 'unqualified-search-registries = ["docker.io"]\n');
    const dropIns = join(root, 'registries.conf.d');
    await mkdir(dropIns);
    await writeFile(join(dropIns, '00-shortnames.conf'), '[aliases]\n');
    const result = await run(['podman', '--write', '--config-dir', dropIns, '--mirror-url', 'https://edge.example:5000']);
    assert.equal(result.code, 0, result.err);
    assert.equal(await readFile(main, 'utf8'), 'unqualified-search-registries = ["docker.io"]\n');
    assert.deepEqual((await readdir(dropIns)).sort(), ['00-shortnames.conf', 'edgepier.conf']);
    const parsed = parseToml(await readFile(join(dropIns, 'edgepier.conf'), 'utf8')) as { registry: Array<{ mirror: Array<{ location: string; insecure: boolean }> }> };
    assert.deepEqual(parsed.registry[0]?.mirror, [{ location: 'edge.example:5000/docker.io', insecure: false }]);
    await run(['podman', '--write', '--config-dir', dropIns]);
    const backups = (await readdir(dropIns)).filter((name) => name.includes('.bak-'));
    assert.equal(backups.length, 1);
    assert.ok(!backups[0]?.endsWith('.conf'), 'the backup does not end in .conf, so Podman does not load it');
  });
});
