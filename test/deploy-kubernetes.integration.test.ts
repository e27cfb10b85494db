// deploy/kubernetes as shipped: every object validates against the Kubernetes API schema
// (kubernetes-models, offline); the DaemonSet has what a node agent needs; and its own
// containerd-hosts init container, run as it would run on a node (same command, same
// ConfigMap settings, the hostPath a temp dir), wires a real containerd whose CRI plugin
// (the API kubelet uses) then pulls an image through EdgePier from a real registry.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { DaemonSet } from 'kubernetes-models/apps/v1';
import { ConfigMap, Namespace, ServiceAccount } from 'kubernetes-models/v1';
import { parse as parseToml } from 'smol-toml';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import { setupCommand } from '../cli/setup/setup-command.js';
import { containerdSkipReason, startContainerd } from './support/containerd-process.js';
import { CriImageClient } from './support/cri-client.js';
import { getFreePort, pollUntil, startProcess, waitForHttp } from './support/child-process.js';
import { startRegistry } from './support/registry-process.js';
import { runCommand } from './support/run-command.js';
import { makeTempDir } from './support/temp-dir.js';
import { buildImage, pushImage } from './support/test-image.js';

const ROOT = join(import.meta.dirname, '..');
const MANIFEST = join(ROOT, 'deploy', 'kubernetes', 'edgepier.yaml');
const MAIN = join(ROOT, 'cli', 'main.ts');
/** The CLI in the image (`node /app/dist/cli/main.js`), here the source through tsx. */
const IMAGE_CLI = ['node', '/app/dist/cli/main.js'];

type Doc = Record<string, unknown> & { kind: string; apiVersion: string };

async function shippedObjects(): Promise<Doc[]> {
  const documents = parseAllDocuments(await readFile(MANIFEST, 'utf8'));
  return documents.map((document) => {
    assert.equal(document.errors.length, 0, String(document.errors[0]));
    return document.toJS() as Doc;
  });
}

async function shippedDaemonSet(): Promise<DaemonSet> {
  const doc = (await shippedObjects()).find((object) => object.kind === 'DaemonSet');
  assert.ok(doc, 'the manifest holds a DaemonSet');
  return new DaemonSet(doc as ConstructorParameters<typeof DaemonSet>[0]);
}

async function shippedConfig(): Promise<Record<string, string>> {
  const doc = (await shippedObjects()).find((object) => object.kind === 'ConfigMap');
  return (doc?.data ?? {}) as Record<string, string>;
}

describe('deploy/kubernetes', () => {
  test('every object validates against the Kubernetes API schema', async () => {
    const objects = await shippedObjects();
    const models: Record<string, (doc: Doc) => { validate(): void }> = {
      'v1/Namespace': (doc) => new Namespace(doc as ConstructorParameters<typeof Namespace>[0]),
      'v1/ServiceAccount': (doc) => new ServiceAccount(doc as ConstructorParameters<typeof ServiceAccount>[0]),
      'v1/ConfigMap': (doc) => new ConfigMap(doc as ConstructorParameters<typeof ConfigMap>[0]),
      'apps/v1/DaemonSet': (doc) => new DaemonSet(doc as ConstructorParameters<typeof DaemonSet>[0]),
    };
    assert.deepEqual(objects.map((object) => `${object.apiVersion}/${object.kind}`).sort(), Object.keys(models).sort());
    for (const object of objects) {
      const model = models[`${object.apiVersion}/${object.kind}`];
      assert.ok(model);
      assert.doesNotThrow(() => model(object).validate(), `${object.kind} validates`);
    }
    // The validator is not a rubber stamp: a misspelt field or a wrong type is refused.
    const daemonSet = objects.find((object) => object.kind === 'DaemonSet') as Doc;
    const broken = structuredClone(daemonSet) as unknown as { spec: { template: { spec: Record<string, unknown> } } };
    broken.spec.template.spec.hostNetwork = 'yes';
    assert.throws(() => new DaemonSet(broken as unknown as ConstructorParameters<typeof DaemonSet>[0]).validate());

    const kustomization = parseYaml(await readFile(join(ROOT, 'deploy', 'kubernetes', 'kustomization.yaml'), 'utf8')) as { resources: string[] };
    for (const resource of kustomization.resources) assert.ok(existsSync(join(ROOT, 'deploy', 'kubernetes', resource)), `${resource} exists`);
  });

  test('the DaemonSet: host network, cache on a hostPath, the site key from a Secret, probes, resources', async () => {
    const spec = (await shippedDaemonSet()).spec?.template.spec;
    assert.ok(spec);
    assert.equal(spec.hostNetwork, true, 'mDNS multicast reaches the LAN');
    assert.equal(spec.dnsPolicy, 'ClusterFirstWithHostNet');
    const [main] = spec.containers;
    assert.ok(main);
    const volume = (name: string) => spec.volumes?.find((candidate) => candidate.name === name);
    const mountOf = (path: string) => main.volumeMounts?.find((mount) => mount.mountPath === path);
    const env = new Map((main.env ?? []).map((variable) => [variable.name, variable.value]));

    const cacheDir = env.get('EDGEPIER_CACHE_DIR') ?? '';
    const cacheMount = mountOf(cacheDir);
    assert.ok(cacheMount, 'the cache dir is a mount');
    assert.equal(volume(cacheMount.name)?.hostPath?.path, '/var/cache/edgepier', 'the cache survives the pod');

    const keyFile = env.get('EDGEPIER_SITE_KEY_FILE') ?? '';
    const keyMount = main.volumeMounts?.find((mount) => keyFile.startsWith(`${mount.mountPath}/`));
    assert.ok(keyMount?.readOnly, 'the site key file is on a read-only mount');
    assert.equal(volume(keyMount.name)?.secret?.secretName, 'edgepier-site-key');
    assert.equal(spec.securityContext?.fsGroup, main.securityContext?.runAsUser ?? spec.securityContext?.runAsUser, 'the Secret is readable by the pod user');

    for (const probe of [main.startupProbe, main.livenessProbe, main.readinessProbe]) {
      assert.equal(probe?.httpGet?.host, '127.0.0.1', 'probes reach the loopback client API');
      assert.equal(String(probe?.httpGet?.port), (await shippedConfig()).EDGEPIER_LISTEN?.split(':')[1], 'on the port serve listens on');
    }
    assert.equal(main.readinessProbe?.httpGet?.path, '/readyz');
    assert.equal(main.livenessProbe?.httpGet?.path, '/healthz');

    const limit = main.resources?.limits?.memory;
    assert.ok(main.resources?.requests?.cpu && main.resources.requests.memory, 'requests set');
    assert.equal(limit, '512Mi');
    const heap = /--max-old-space-size=(\d+)/.exec(env.get('NODE_OPTIONS') ?? '')?.[1];
    assert.ok(heap && Number(heap) <= 512 / 2, 'the V8 heap is capped well below the limit');
    const tmpfs = spec.volumes?.filter((candidate) => candidate.emptyDir?.medium === 'Memory') ?? [];
    assert.equal(tmpfs.length, 0, 'no tmpfs: its pages would count against the limit and could not be reclaimed');
    assert.equal(main.securityContext?.readOnlyRootFilesystem, true);
    assert.equal(main.securityContext?.allowPrivilegeEscalation, false);
  });

  test('containerd (CRI) pulls through EdgePier with the hosts.toml the init container installs', { skip: containerdSkipReason() }, async (t) => {
    const registry = await startRegistry();
    t.after(() => registry.stop());
    const layout = await buildImage({ layers: 2, layerSize: 150_000, seed: 'kubernetes-cri' });
    t.after(() => layout.cleanup());
    const image = await pushImage(layout, registry, 'edge/cri-app:v1');

    const work = await makeTempDir('k8s-cri');
    t.after(() => work.remove());
    const spec = (await shippedDaemonSet()).spec?.template.spec;
    const init = spec?.initContainers?.find((container) => container.name === 'containerd-hosts');
    const main = spec?.containers[0];
    assert.ok(init?.command && main);
    assert.deepEqual(init.command.slice(0, 2), IMAGE_CLI);

    // The ConfigMap as a site would edit it: this test's port and registry. Everything
    // else (the command, the flags, the env wiring) is the shipped manifest's.
    const port = await getFreePort();
    const config = { ...(await shippedConfig()), EDGEPIER_LISTEN: `127.0.0.1:${port}`, EDGEPIER_PEER_LISTEN: '127.0.0.1:0', EDGEPIER_UPSTREAM: `${registry.host}=${registry.url}` };
    const hostPaths = new Map<string, string>();
    for (const mount of init.volumeMounts ?? []) {
      const hostPath = spec?.volumes?.find((volume) => volume.name === mount.name)?.hostPath?.path;
      assert.ok(hostPath, `${mount.name} is a hostPath`);
      hostPaths.set(mount.mountPath, join(work.path, 'node', hostPath));
    }
    const onNode = (arg: string): string => [...hostPaths].reduce((text, [inPod, onHost]) => (text === inPod ? onHost : text), arg);
    const envOf = (container: typeof init, overrides: Record<string, string>): NodeJS.ProcessEnv => {
      const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: work.path, ...config };
      for (const variable of container.env ?? []) if (variable.value !== undefined) env[variable.name] = variable.value;
      return { ...env, ...overrides };
    };
    const nodeCacheDir = join(work.path, 'node', 'var', 'cache', 'edgepier');
    const initRun = await runCommand(process.execPath, ['--import', 'tsx', MAIN, ...init.command.slice(2).map(onNode)], {
      env: envOf(init, { EDGEPIER_CACHE_DIR: nodeCacheDir }),
      timeoutMs: 30_000,
    });
    assert.match(initRun.stdout.toString('utf8'), /hosts\.toml: created/);
    const certsDir = hostPaths.get('/host/etc/containerd/certs.d') ?? '';
    const hostsToml = JSON.parse(JSON.stringify(parseToml(await readFile(join(certsDir, registry.host, 'hosts.toml'), 'utf8')))) as unknown;
    assert.deepEqual(hostsToml, { server: `https://${registry.host}`, host: { [`http://127.0.0.1:${port}`]: { capabilities: ['pull', 'resolve'] } } });

    // serve as the main container runs it. No mDNS here: the test keeps its traffic on
    // loopback. The site key belongs to the peer API (issue 11), not to this wiring.
    const { EDGEPIER_SITE_KEY_FILE: _siteKey, NODE_OPTIONS: _heap, ...serveEnv } = envOf(main, { EDGEPIER_CACHE_DIR: nodeCacheDir, EDGEPIER_NO_MDNS: 'true' });
    const mirror = startProcess(process.execPath, ['--import', 'tsx', MAIN, ...(main.args ?? [])], { env: serveEnv, name: 'edgepier-daemonset' });
    t.after(() => mirror.stop());
    await waitForHttp(`http://127.0.0.1:${port}/readyz`, { process: mirror, deadlineMs: 20_000, accept: (status) => status === 200 });

    const { process: containerd, socket } = await startContainerd({ dir: work.path, cri: { certsDir }, name: 'containerd-cri' });
    t.after(() => containerd.stop());
    const cri = new CriImageClient(socket);
    t.after(() => cri.close());
    await pollUntil('the CRI image service answers', async () => (await cri.listImages(2_000), true), { process: containerd, deadlineMs: 30_000, intervalMs: 200 });

    // The fallback server (https://<registry host>) cannot answer: the registry speaks plain
    // HTTP. A successful pull therefore came through EdgePier.
    const reference = `${registry.host}/edge/cri-app:v1`;
    const imageRef = await cri.pullImage(reference, 120_000);
    assert.match(imageRef, /^sha256:[0-9a-f]{64}$/);
    const images = await cri.listImages(10_000);
    assert.ok(images.some((listed) => listed.repoTags.includes(reference)), `kubelet would see ${reference}`);

    const served = await pollUntil('the mirror logged every blob', () => {
      const lines = mirror.stdout.split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as { msg?: string; status?: number; digest?: string });
      const blobs = lines.filter((line) => line.msg === 'request' && line.status === 200);
      return Promise.resolve([...image.blobs.keys()].every((digest) => blobs.some((line) => line.digest === digest)) ? blobs : undefined);
    }, { deadlineMs: 5_000 });
    assert.ok(served.length >= image.blobs.size);
  });
});

describe('edgepier setup k3s', () => {
  async function run(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; out: string; err: string }> {
    let out = '';
    let err = '';
    const code = await setupCommand(args, { out: (text) => (out += text), err: (text) => (err += text), env: { HOME: '/home/edgepier-test', ...env }, now: () => new Date('2026-01-02T03:04:05Z') });
    return { code, out, err };
  }

  test('prints registries.yaml mirrors for every configured upstream, pointing where serve listens', async () => {
    const result = await run(['k3s'], { EDGEPIER_UPSTREAM: 'https://registry-1.docker.io,ghcr.io=https://ghcr.io,registry.example:5443=https://registry.example:5443', EDGEPIER_LISTEN: '0.0.0.0:5002', EDGEPIER_CLIENT_ALLOW: '10.0.0.0/8' });
    assert.equal(result.code, 0, result.err);
    assert.match(result.err, /\/etc\/rancher\/k3s\/registries\.yaml/);
    assert.match(result.err, /systemctl restart k3s/);
    assert.deepEqual(parseYaml(result.out), {
      mirrors: {
        'docker.io': { endpoint: ['http://127.0.0.1:5002'] },
        'ghcr.io': { endpoint: ['http://127.0.0.1:5002'] },
        'registry.example:5443': { endpoint: ['http://127.0.0.1:5002'] },
      },
    });
  });

  test('--write merges: credentials, TLS settings and other mirrors are kept, the node goes first, a backup is made', async (t) => {
    const dir = await makeTempDir('setup-k3s');
    t.after(() => dir.remove());
    const path = join(dir.path, 'registries.yaml');
    const original = [
      'mirrors:',
      '  docker.io:',
      '    endpoint:',
      '      - "https://mirror.example"',
      '      - "http://127.0.0.1:5000"',
      '  quay.io:',
      '    endpoint: ["https://quay-mirror.example"]',
      'configs:',
      '  "ghcr.io":',
      '    auth:',
      '      username: bot',
      '      password: secret',
      '',
    ].join('\n');
    await writeFile(path, original);
    const result = await run(['k3s', '--write', '--config-dir', dir.path, '--registry', 'docker.io,ghcr.io'], {});
    assert.equal(result.code, 0, result.err);
    assert.deepEqual(parseYaml(await readFile(path, 'utf8')), {
      mirrors: {
        'docker.io': { endpoint: ['http://127.0.0.1:5000', 'https://mirror.example'] },
        'quay.io': { endpoint: ['https://quay-mirror.example'] },
        'ghcr.io': { endpoint: ['http://127.0.0.1:5000'] },
      },
      configs: { 'ghcr.io': { auth: { username: 'bot', password: 'secret' } } },
    });
    assert.equal(await readFile(`${path}.bak-20260102T030405Z`, 'utf8'), original);
    assert.match(result.err, /--upstream ghcr\.io=https:\/\/ghcr\.io/, 'says the node needs an upstream for ghcr.io');
  });

  test('a registries.yaml it cannot merge is left alone', async (t) => {
    const dir = await makeTempDir('setup-k3s-bad');
    t.after(() => dir.remove());
    const path = join(dir.path, 'registries.yaml');
    for (const content of ['mirrors: [unclosed', 'mirrors:\n  docker.io:\n    endpoint: 5\n', '- a list\n']) {
      await writeFile(path, content);
      const result = await run(['k3s', '--write', '--config-dir', dir.path], {});
      assert.equal(result.code, 1, content);
      assert.match(result.err, /nothing was written/);
      assert.equal(await readFile(path, 'utf8'), content);
    }
  });
});
