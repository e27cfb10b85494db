// Every way of running the node gives it glibc's fixed mmap threshold (cache/read-buffer-mapping.ts):
// without it the memory of a crowd of clients stays resident after they leave. The bench
// (bench/hostile-clients.ts) measures the difference; this keeps the deploy files saying it.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import { MALLOC_ENVIRONMENT } from '../cache/read-buffer-mapping.js';

const ROOT = join(import.meta.dirname, '..');
const SETTINGS = Object.entries(MALLOC_ENVIRONMENT);

const read = (path: string): Promise<string> => readFile(join(ROOT, path), 'utf8');

test('the image sets the threshold in its runtime stage', async () => {
  const dockerfile = await read('Dockerfile');
  const runtime = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));
  // ENV lines continue with a trailing backslash: join them before looking.
  const env = runtime.replace(/\\\n\s*/g, ' ');
  for (const [name, value] of SETTINGS) assert.match(env, new RegExp(`^ENV .*\\b${name}=${value}\\b`, 'm'), `${name} in the final stage's ENV`);
});

test('the systemd unit, `npm start`, compose and the DaemonSet run with it', async () => {
  const unit = await read('deploy/systemd/edgepier.service');
  const start = (JSON.parse(await read('package.json')) as { scripts: Record<string, string> }).scripts.start ?? '';
  for (const [name, value] of SETTINGS) {
    assert.ok(unit.split('\n').includes(`Environment=${name}=${value}`), `the unit sets ${name}`);
    assert.match(start, new RegExp(`\\b${name}=${value} exec node dist/cli/main.js serve`), `npm start sets ${name}`);
  }
  // Compose and the DaemonSet run the image: they must not set these to anything else.
  const compose = parseYaml(await read('docker-compose.yml')) as { services: Record<string, { build?: unknown; environment?: Record<string, string> }> };
  for (const [service, spec] of Object.entries(compose.services)) {
    assert.ok(spec.build !== undefined, `compose service ${service} builds the image from the Dockerfile`);
    for (const [name] of SETTINGS) assert.equal(spec.environment?.[name], undefined, `compose ${service} leaves ${name} to the image`);
  }
  const objects = parseAllDocuments(await read('deploy/kubernetes/edgepier.yaml')).map((document) => document.toJS() as { kind?: string; spec?: unknown });
  const daemonSets = objects.filter((object) => object.kind === 'DaemonSet');
  assert.ok(daemonSets.length > 0);
  const env = JSON.stringify(daemonSets);
  for (const [name] of SETTINGS) assert.ok(!env.includes(`"${name}"`), `the DaemonSet leaves ${name} to the image`);
});
