// The "cloud" of a WanSite: a real docker-registry running inside the cloud namespace, its
// access log parsed line by line (who fetched which blob), optionally behind a user-space
// delay proxy (these kernels have no netem). Images are pushed from inside the cloud
// namespace, so a push never crosses (or counts on) the WAN link.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { REGISTRY_BINARY } from './registry-process.js';
import { runCommand } from './run-command.js';
import { NamespaceProcess } from './site-namespace-process.js';
import type { WanSite } from './site-wan.js';
import type { ImageLayout } from './test-image.js';
import { parseRepositoryTag } from './test-image.js';

const DELAY_PROXY = join(import.meta.dirname, 'site-delay-proxy.ts');
/** Where the nodes reach the cloud registry (the delay proxy when there is one). */
export const CLOUD_PORT = 5000;
/** The registry itself when a delay proxy fronts it (loopback of the cloud namespace). */
const REGISTRY_BEHIND_PROXY_PORT = 5001;
const START_DEADLINE_MS = 20_000;
const BLOB_PATH = /^\/v2\/(.+)\/blobs\/(sha256:[0-9a-f]{64})$/;

/** One line of the registry's access log (Apache combined format). */
export interface AccessRecord {
  readonly client: string;
  readonly method: string;
  readonly path: string;
  readonly status: number;
  readonly bytes: number;
}

export interface CloudRegistry {
  /** `http://198.19.S.2:5000`, as the site's nodes reach it. */
  readonly url: string;
  /** `198.19.S.2:5000`, for image references. */
  readonly host: string;
  readonly delayMs: number;
  readonly accessLog: readonly AccessRecord[];
  /** Successful blob GETs since `from` (an index into accessLog), by digest then by client. */
  blobGets(from?: number): Map<string, Map<string, number>>;
  /** Pushes an OCI layout from inside the cloud namespace; returns `HOST/repo:tag`. */
  push(layout: ImageLayout, reference: string, timeoutMs?: number): Promise<string>;
  /** Stops the registry (and proxy) by pid and deletes its storage. Idempotent. */
  stop(): Promise<void>;
}

// 198.18.0.2 - - [02/Jan/2006:15:04:05 +0000] "GET /v2/x/blobs/sha256:… HTTP/1.1" 200 123 "" "skopeo/1.9.3"
const ACCESS_LINE = /^(\S+) \S+ \S+ \[[^\]]*\] "([A-Z]+) (\S+) HTTP\/[\d.]+" (\d{3}) (\d+|-)/;

/** Successful blob GETs in `records`, by digest then by client address. */
export function countBlobGets(records: readonly AccessRecord[]): Map<string, Map<string, number>> {
  const counts = new Map<string, Map<string, number>>();
  for (const record of records) {
    const digest = record.method === 'GET' && record.status === 200 ? BLOB_PATH.exec(record.path)?.[2] : undefined;
    if (digest === undefined) continue;
    const byClient = counts.get(digest) ?? new Map<string, number>();
    byClient.set(record.client, (byClient.get(record.client) ?? 0) + 1);
    counts.set(digest, byClient);
  }
  return counts;
}

export function parseAccessLine(line: string): AccessRecord | undefined {
  const match = ACCESS_LINE.exec(line);
  if (!match?.[1] || !match[2] || !match[3] || !match[4]) return undefined;
  return { client: match[1], method: match[2], path: match[3], status: Number(match[4]), bytes: match[5] === '-' ? 0 : Number(match[5]) };
}

export async function startCloudRegistry(wan: WanSite, options: { delayMs?: number } = {}): Promise<CloudRegistry> {
  const delayMs = options.delayMs ?? 0;
  const workDir = await mkdtemp(join(tmpdir(), 'edgepier-cloud-'));
  const registryPort = delayMs > 0 ? REGISTRY_BEHIND_PROXY_PORT : CLOUD_PORT;
  const registryHost = delayMs > 0 ? `127.0.0.1:${registryPort}` : `0.0.0.0:${registryPort}`;
  const config = {
    version: 0.1,
    log: { level: 'info', formatter: 'text', accesslog: { disabled: false } },
    storage: {
      filesystem: { rootdirectory: join(workDir, 'storage') },
      maintenance: { uploadpurging: { enabled: false } },
      cache: { blobdescriptor: 'inmemory' },
    },
    http: { addr: registryHost, secret: randomBytes(16).toString('hex') },
    health: { storagedriver: { enabled: false } },
  };
  const configPath = join(workDir, 'config.yml');
  await writeFile(configPath, stringify(config));
  const accessLog: AccessRecord[] = [];
  const processes: NamespaceProcess[] = [];
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      await Promise.all(processes.map((child) => child.stop()));
      await rm(workDir, { recursive: true, force: true });
    })();
    return stopping;
  };
  try {
    const registry = new NamespaceProcess('docker-registry', wan.cloud.name, REGISTRY_BINARY, ['serve', configPath], (line) => {
      const record = parseAccessLine(line);
      if (record) accessLog.push(record);
    });
    processes.push(registry);
    await registry.waitForLine(/listening on/, START_DEADLINE_MS);
    if (delayMs > 0) {
      const proxy = new NamespaceProcess('delay-proxy', wan.cloud.name, process.execPath, [
        '--import', 'tsx', DELAY_PROXY, `0.0.0.0:${CLOUD_PORT}`, `127.0.0.1:${registryPort}`, String(delayMs),
      ]);
      processes.push(proxy);
      await proxy.waitForLine(/^delay-proxy listening/, START_DEADLINE_MS);
    }
  } catch (error) {
    await stop();
    throw error;
  }

  const host = `${wan.cloud.address}:${CLOUD_PORT}`;
  return {
    url: `http://${host}`,
    host,
    delayMs,
    accessLog,
    blobGets: (from = 0) => countBlobGets(accessLog.slice(from)),
    async push(layout, reference, timeoutMs = 120_000) {
      const { repository, tag } = parseRepositoryTag(reference);
      await runCommand(
        'ip',
        [
          'netns', 'exec', wan.cloud.name, 'skopeo', '--insecure-policy', 'copy', '--all', '--preserve-digests',
          '--retry-times', '0', '--quiet', '--dest-tls-verify=false', '--dest-no-creds',
          `oci:${layout.dir}:${layout.refName}`, `docker://127.0.0.1:${registryPort}/${repository}:${tag}`,
        ],
        { timeoutMs },
      );
      return `${host}/${repository}:${tag}`;
    },
    stop,
  };
}
