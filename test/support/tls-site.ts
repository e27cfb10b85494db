// Real TLS servers reachable by host name, for testing transparent (HTTPS_PROXY) mode:
//
//   client    198.18.43.2  where the proxy under test, skopeo and curl run
//   registry  198.18.43.3  registry.test:443  docker-registry, certificate from the test CA
//   origin    198.18.43.4  origin.test:443    nginx, fixed body, certificate from the test CA
//   badcert   198.18.43.5  badcert.test:443   docker-registry, self-signed certificate
//
// One bridge (netns.ts createSite), one namespace per server, so each has its own address and
// port 443, and the registry's access log tells the client's requests from anyone else's.
// The names resolve in every namespace of the site through /etc/netns/<ns>/hosts, and
// nowhere else. Nothing trusts the test CA by default: a client is given `caPath` (a PEM
// bundle) or `caCertDir` (skopeo's `--cert-dir`).
import { makeTempDir } from './temp-dir.js';
import { createSite, type Site, type SiteNamespace } from './netns.js';
import { pollUntil } from './child-process.js';
import type { NamespaceProcess } from './site-namespace-process.js';
import { buildImage } from './test-image.js';
import {
  runInNamespace,
  spawnInNamespace,
  type NamespaceCommandOptions,
  type NamespaceCommandResult,
  type NamespaceSpawnOptions,
} from './tls-namespace-command.js';
import { startTlsOrigin, type TlsOrigin } from './tls-origin.js';
import { startTlsRegistry, type TlsRegistry } from './tls-registry.js';
import { createSelfSignedCertificate, createTestPki, type TestPki } from './tls-test-pki.js';

export const REGISTRY_HOST = 'registry.test';
export const ORIGIN_HOST = 'origin.test';
export const BADCERT_HOST = 'badcert.test';
export const ORIGIN_BODY = 'EdgePier test origin: fixed body';
/**
 * Third octet of the site's addresses. Any site is its own isolated bridge, so addresses never
 * clash; a number no other suite uses (they use 0) only keeps logs and failures unambiguous.
 */
export const TLS_SITE_INDEX = 43;

const CLIENT = 0;
const REGISTRY = 1;
const ORIGIN = 2;
const BADCERT = 3;
const DEFAULT_START_DEADLINE_MS = 20_000;
const READY_PROBE_TIMEOUT_S = 2;

export interface TlsSiteOptions {
  /** Third octet of the addresses. Default TLS_SITE_INDEX. */
  readonly site?: number;
  /** Budget for each server to come up. Default 20000 ms. */
  readonly startDeadlineMs?: number;
}

export interface SeedImageOptions {
  /** Default `edgepier/app`. */
  readonly repository?: string;
  /** Default `v1`. */
  readonly tag?: string;
  /** Default 3. */
  readonly layers?: number;
  /** Bytes of content per layer. Default 100000. */
  readonly layerSize?: number;
  /** Same seed, same digests. Default: the repository. */
  readonly seed?: string;
}

export interface SeededImage {
  /** `registry.test/<repository>:<tag>` */
  readonly reference: string;
  readonly repository: string;
  readonly tag: string;
  /** Digest of the image manifest (single platform, linux/amd64, OCI). */
  readonly topDigest: string;
  readonly manifests: ReadonlyMap<string, Buffer>;
  /** Config and layers, by digest (what a pull GETs from /blobs/). */
  readonly blobs: ReadonlyMap<string, Buffer>;
  readonly configDigest: string;
  readonly layerDigests: readonly string[];
}

export interface TlsSite {
  readonly site: Site;
  /** Where the proxy under test and the pulling clients run. */
  readonly client: SiteNamespace;
  readonly registry: TlsRegistry;
  readonly origin: TlsOrigin;
  /** A registry whose certificate is self-signed: verifying clients must refuse it. */
  readonly badcert: TlsRegistry;
  /** Host name → address, as the site's hosts files say. */
  readonly hosts: ReadonlyMap<string, string>;
  readonly pki: TestPki;
  /** PEM bundle holding just the test CA (curl `--cacert`, NODE_EXTRA_CA_CERTS, `ca:`). */
  readonly caPath: string;
  /** Directory holding just the test CA as `ca.crt` (skopeo `--cert-dir`/`--src-cert-dir`). */
  readonly caCertDir: string;
  /** Runs a command in the client namespace; rejects with a NamespaceCommandError unless it exits 0. */
  execInClient(command: string, args: readonly string[], options?: NamespaceCommandOptions): Promise<NamespaceCommandResult>;
  /** Starts a long-running command in the client namespace; destroy() stops it by pid. */
  spawnInClient(name: string, command: string, args: readonly string[], options?: NamespaceSpawnOptions): NamespaceProcess;
  /** Builds a small multi-layer image and pushes it to registry.test. */
  seedImage(options?: SeedImageOptions): Promise<SeededImage>;
  /** Stops every process by pid, removes namespaces, hosts files and temp files. Idempotent. */
  destroy(): Promise<void>;
}

export async function startTlsSite(options: TlsSiteOptions = {}): Promise<TlsSite> {
  const startDeadlineMs = options.startDeadlineMs ?? DEFAULT_START_DEADLINE_MS;
  const work = await makeTempDir('tls-site');
  const processes: { stop(): Promise<unknown> }[] = [];
  let site: Site | undefined;
  let destroyed: Promise<void> | undefined;
  const destroy = (): Promise<void> => {
    destroyed ??= (async () => {
      await Promise.all(processes.map((child) => child.stop()));
      await site?.destroy();
      await work.remove();
    })();
    return destroyed;
  };

  try {
    const hostIndex = { [REGISTRY_HOST]: REGISTRY, [ORIGIN_HOST]: ORIGIN, [BADCERT_HOST]: BADCERT };
    site = await createSite({ nodes: 4, site: options.site ?? TLS_SITE_INDEX, hosts: hostIndex });
    const node = (index: number): SiteNamespace => {
      const found = site?.namespaces[index];
      if (!found) throw new Error(`tls site: no node ${index}`);
      return found;
    };
    const client = node(CLIENT);
    const hosts = new Map(Object.entries(hostIndex).map(([host, index]) => [host, node(index).address]));

    const pki = await createTestPki(`${work.path}/pki`, [REGISTRY_HOST, ORIGIN_HOST]);
    const selfSigned = await createSelfSignedCertificate(`${work.path}/pki`, BADCERT_HOST);
    const serverAt = (index: number, host: string): { host: string; namespace: string; address: string; workDir: string } => ({
      host,
      namespace: node(index).name,
      address: node(index).address,
      workDir: `${work.path}/${host}`,
    });
    // allSettled, not all: a server that started must be in `processes` before destroy() runs.
    const started = await Promise.allSettled([
      startTlsRegistry({ ...serverAt(REGISTRY, REGISTRY_HOST), certificate: pki.server(REGISTRY_HOST), startDeadlineMs }),
      startTlsOrigin({ ...serverAt(ORIGIN, ORIGIN_HOST), certificate: pki.server(ORIGIN_HOST), body: ORIGIN_BODY }),
      startTlsRegistry({ ...serverAt(BADCERT, BADCERT_HOST), certificate: selfSigned, startDeadlineMs }),
    ] as const);
    for (const result of started) if (result.status === 'fulfilled') processes.push(result.value);
    const [registry, origin, badcert] = [valueOf(started[0]), valueOf(started[1]), valueOf(started[2])];
    const clientNamespace = client.name;

    // Ready means reachable from the client by name: hosts file, bridge and listener all work.
    for (const server of [registry, origin, badcert]) await waitUntilReachable(clientNamespace, server, startDeadlineMs);

    const liveSite = site;
    return {
      site: liveSite,
      client,
      registry,
      origin,
      badcert,
      hosts,
      pki,
      caPath: pki.ca.certPath,
      caCertDir: pki.ca.certDir,
      execInClient: (command, args, commandOptions) => runInNamespace(clientNamespace, command, args, commandOptions),
      spawnInClient(name, command, args, spawnOptions) {
        const child = spawnInNamespace(name, clientNamespace, command, args, spawnOptions);
        processes.push(child);
        return child;
      },
      async seedImage(seedOptions = {}) {
        const repository = seedOptions.repository ?? 'edgepier/app';
        const tag = seedOptions.tag ?? 'v1';
        const layout = await buildImage({ layers: seedOptions.layers ?? 3, layerSize: seedOptions.layerSize ?? 100_000, seed: seedOptions.seed ?? repository });
        try {
          await registry.push(layout, `${repository}:${tag}`, pki.ca.certDir);
          const layerDigests = layout.platformLayers.get('linux/amd64') ?? [];
          const configDigest = [...layout.blobs.keys()].find((digest) => !layerDigests.includes(digest));
          if (configDigest === undefined) throw new Error('seedImage: the layout has no config blob');
          return {
            reference: `${REGISTRY_HOST}/${repository}:${tag}`,
            repository,
            tag,
            topDigest: layout.topDigest,
            manifests: layout.manifests,
            blobs: layout.blobs,
            configDigest,
            layerDigests,
          };
        } finally {
          await layout.cleanup();
        }
      },
      destroy,
    };
  } catch (error) {
    await destroy();
    throw error;
  }
}

/** Polls `curl --insecure https://HOST/` from the client until any HTTP answer; fails fast if the server exits. */
async function waitUntilReachable(clientNamespace: string, server: { host: string; process: NamespaceProcess }, deadlineMs: number): Promise<void> {
  const probe = async (): Promise<'reachable' | 'exited'> => {
    if (server.process.hasExited) return 'exited';
    await runInNamespace(clientNamespace, 'curl', ['-q', '-sS', '--insecure', '-o', '/dev/null', '--max-time', String(READY_PROBE_TIMEOUT_S), `https://${server.host}/`], {
      timeoutMs: (READY_PROBE_TIMEOUT_S + 1) * 1000,
    });
    return 'reachable';
  };
  let outcome: 'reachable' | 'exited';
  try {
    outcome = await pollUntil(`${server.host} answering HTTPS in ${clientNamespace}`, probe, { deadlineMs, intervalMs: 50 });
  } catch (error) {
    throw new Error(`${error instanceof Error ? error.message : String(error)}\n${server.process.diagnostics()}`, { cause: error });
  }
  if (outcome === 'exited') throw new Error(`${server.host}: server exited during start\n${server.process.diagnostics()}`);
}

function valueOf<T>(result: PromiseSettledResult<T>): T {
  if (result.status === 'rejected') throw result.reason;
  return result.value;
}
