// The transparent-mode CLI surface: `edgepier ca export`, and `serve` refusing a CA it cannot
// trust by exiting with the reason instead of running half-started.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { chmod, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { runEdgepier } from './support/run-edgepier.js';
import { makeTempDir } from './support/temp-dir.js';

test('ca export creates the CA under the cache dir once and prints the same certificate every time', async (t) => {
  const dir = await makeTempDir('ca-export');
  t.after(() => dir.remove());
  const env = { ...process.env, EDGEPIER_CACHE_DIR: dir.path };
  const first = await runEdgepier(['ca', 'export'], { env });
  assert.equal(first.code, 0, first.stderr);
  assert.match(first.stderr, /created a new CA in .*\/ca/);
  const certificate = new X509Certificate(first.stdout);
  assert.equal(certificate.ca, true);
  assert.equal((await stat(join(dir.path, 'ca', 'ca-key.pem'))).mode & 0o777, 0o600);

  const out = join(dir.path, 'exported.crt');
  const second = await runEdgepier(['ca', 'export', '--out', out], { env });
  assert.equal(second.code, 0, second.stderr);
  assert.doesNotMatch(second.stderr, /created/);
  assert.equal(await readFile(out, 'utf8'), first.stdout);
  assert.match(second.stderr, new RegExp(certificate.fingerprint256));

  const wrong = await runEdgepier(['ca', 'import'], { env });
  assert.equal(wrong.code, 2);
  assert.match(wrong.stderr, /the only subcommand is: export/);
});

test('serve with a CA key others can read exits 1 with the fix, and leaves no port open', async (t) => {
  const dir = await makeTempDir('ca-refused');
  t.after(() => dir.remove());
  const caDir = join(dir.path, 'ca');
  assert.equal((await runEdgepier(['ca', 'export', '--ca-dir', caDir], { env: process.env })).code, 0);
  await chmod(join(caDir, 'ca-key.pem'), 0o644);
  const serve = await runEdgepier(
    ['serve', '--listen', '127.0.0.1:0', '--peer-listen', '127.0.0.1:0', '--proxy-listen', '127.0.0.1:0', '--ca-dir', caDir, '--cache-dir', join(dir.path, 'cache'), '--no-mdns'],
    { env: process.env, timeoutMs: 30_000 },
  );
  assert.equal(serve.code, 1, serve.stderr);
  assert.match(serve.stderr, /could not start: .*chmod 600/);
  assert.doesNotMatch(serve.stderr + serve.stdout, /PRIVATE KEY/);
});
