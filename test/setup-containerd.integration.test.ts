// A real containerd (Debian's, as a plain process with its own root, state and socket) pulls
// an image with `ctr --hosts-dir` configured by `edgepier setup containerd --write`, through
// the real EdgePier CLI, from a real docker-registry; the mirror's request log shows it served
// the manifest and every blob.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { parse } from 'smol-toml';
import { getFreePort, pollUntil, startProcess, waitForHttp } from './support/child-process.js';
import { containerdSkipReason, CONTAINERD, CTR, startContainerd } from './support/containerd-process.js';
import { startRegistry } from './support/registry-process.js';
import { runCommand } from './support/run-command.js';
import { makeTempDir } from './support/temp-dir.js';
import { buildImage, pushImage } from './support/test-image.js';

const MAIN = join(import.meta.dirname, '..', 'cli', 'main.ts');

interface RequestLine {
  msg?: string;
  method?: string;
  path?: string;
  status?: number;
  source?: string;
  digest?: string;
}

function requestLines(stdout: string): RequestLine[] {
  return stdout
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as RequestLine)
    .filter((line) => line.msg === 'request');
}

test('ctr pulls through the mirror with the hosts.toml that `edgepier setup containerd --write` wrote', { skip: containerdSkipReason([CONTAINERD, CTR]) }, async (t) => {
  const registry = await startRegistry();
  t.after(() => registry.stop());
  const layout = await buildImage({ layers: 2, layerSize: 200_000, seed: 'containerd' });
  t.after(() => layout.cleanup());
  const image = await pushImage(layout, registry, 'edge/ctr-app:v1');

  const work = await makeTempDir('containerd');
  t.after(() => work.remove());
  const cacheDir = join(work.path, 'cache');
  const port = await getFreePort();
  const mirrorUrl = `http://127.0.0.1:${port}`;
  const mirror = startProcess(
    process.execPath,
    ['--import', 'tsx', MAIN, 'serve', '--listen', `127.0.0.1:${port}`, '--peer-listen', '127.0.0.1:0', '--cache-dir', cacheDir, '--no-mdns', '--upstream', `${registry.host}=${registry.url}`],
    { name: 'edgepier-for-containerd' },
  );
  t.after(() => mirror.stop());
  await waitForHttp(`${mirrorUrl}/readyz`, { process: mirror, deadlineMs: 20_000, accept: (status) => status === 200 });

  const hostsDir = join(work.path, 'certs.d');
  const setup = await runCommand(process.execPath, ['--import', 'tsx', MAIN, 'setup', 'containerd', '--write', '--config-dir', hostsDir, '--registry', registry.host, '--mirror-url', mirrorUrl], { timeoutMs: 30_000 });
  assert.match(setup.stdout.toString('utf8'), /hosts\.toml: created/);
  const hostsToml = await readFile(join(hostsDir, registry.host, 'hosts.toml'), 'utf8');
  assert.deepEqual(JSON.parse(JSON.stringify(parse(hostsToml))), {
    server: `https://${registry.host}`,
    host: { [mirrorUrl]: { capabilities: ['pull', 'resolve'] } },
  });

  // containerd with no CRI plugin: the test pulls with ctr.
  const { process: containerd, socket } = await startContainerd({ dir: work.path, name: 'containerd' });
  t.after(() => containerd.stop());
  await pollUntil(
    'containerd answers',
    async () => {
      await runCommand(CTR, ['--address', socket, 'version'], { timeoutMs: 5_000 });
      return true;
    },
    { process: containerd, deadlineMs: 20_000, intervalMs: 200 },
  );

  // The fallback server (https://<registry host>) cannot answer: the registry speaks plain
  // HTTP. A successful pull therefore came through the mirror.
  const reference = `${registry.host}/edge/ctr-app:v1`;
  await runCommand(CTR, ['--address', socket, '--namespace', 'edgepier-test', 'images', 'pull', '--hosts-dir', hostsDir, '--snapshotter', 'native', reference], { timeoutMs: 120_000 });
  const listed = await runCommand(CTR, ['--address', socket, '--namespace', 'edgepier-test', 'images', 'ls', '--quiet'], { timeoutMs: 10_000 });
  assert.ok(listed.stdout.toString('utf8').split('\n').includes(reference), `ctr lists ${reference}`);
  const content = await runCommand(CTR, ['--address', socket, '--namespace', 'edgepier-test', 'content', 'ls', '--quiet'], { timeoutMs: 10_000 });
  const contentDigests = new Set(content.stdout.toString('utf8').split('\n').filter(Boolean));
  for (const digest of image.blobs.keys()) assert.ok(contentDigests.has(digest), `containerd holds ${digest}`);

  // The mirror logs a request once its response is done; give the last lines a moment to land.
  const blobDigests = [...image.blobs.keys()];
  const lines = await pollUntil('request lines for every blob', () => {
    const parsed = requestLines(mirror.stdout);
    return Promise.resolve(blobDigests.every((digest) => parsed.some((line) => line.digest === digest)) ? parsed : undefined);
  }, { deadlineMs: 5_000 }).catch(() => requestLines(mirror.stdout));
  const served = lines.filter((line) => line.status === 200 && line.method === 'GET');
  // containerd resolves the tag with a HEAD, then fetches the manifest by digest.
  assert.ok(lines.some((line) => line.status === 200 && line.path === '/v2/edge/ctr-app/manifests/v1' && line.digest === image.topDigest), `the mirror resolved the tag: ${mirror.stdout}`);
  assert.ok(served.some((line) => line.path === `/v2/edge/ctr-app/manifests/${image.topDigest}`), 'the mirror served the manifest');
  for (const digest of image.blobs.keys()) {
    assert.ok(served.some((line) => line.digest === digest && line.source === 'upstream'), `the mirror served blob ${digest}`);
  }
  assert.ok(
    lines.every((line) => line.path === undefined || !line.path.includes(registry.host)),
    "containerd's ?ns= named the registry; the path holds only the repository",
  );
});
