// A real docker-registry (distribution 2.8) serving HTTPS on port 443 inside a network
// namespace, under a host name, with the certificate it is given (`http.tls`). Its access log
// is parsed line by line (the format and parser of site-cloud-registry.ts), so a test can
// count which client fetched which blob. Images are pushed from inside the registry's own
// namespace, by host name: the push is TLS-verified like any client's, and its requests come
// from the registry's own address, never from the client namespace a test counts.
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { pollUntil } from './child-process.js';
import { REGISTRY_BINARY } from './registry-process.js';
import { countBlobGets, parseAccessLine, type AccessRecord } from './site-cloud-registry.js';
import { NamespaceProcess } from './site-namespace-process.js';
import { runInNamespace } from './tls-namespace-command.js';
import type { ImageLayout } from './test-image.js';
import { parseRepositoryTag } from './test-image.js';
import type { CertificateFiles } from './tls-test-pki.js';

export const HTTPS_PORT = 443;
const PUSH_TIMEOUT_MS = 60_000;

export interface TlsRegistryOptions {
  /** Host name clients use; the certificate must name it. */
  readonly host: string;
  readonly namespace: string;
  /** The namespace's address (the client address of its own pushes in the access log). */
  readonly address: string;
  readonly certificate: CertificateFiles;
  /** Scratch directory (config, storage); the caller removes it. */
  readonly workDir: string;
  readonly startDeadlineMs: number;
}

export interface TlsRegistry {
  readonly host: string;
  readonly address: string;
  readonly namespace: string;
  /** `https://HOST` (port 443). */
  readonly url: string;
  readonly certificate: CertificateFiles;
  readonly storageDir: string;
  readonly process: NamespaceProcess;
  /** Every request so far, in order. Records appear once the registry has logged them. */
  readonly accessLog: readonly AccessRecord[];
  /** Successful blob GETs since `from` (an index into accessLog), by digest then by client address. */
  blobGets(from?: number): Map<string, Map<string, number>>;
  /**
   * Waits (bounded) until every digest has at least one successful GET from `client` since
   * `from`, then returns blobGets(from). The registry logs a request after answering it, so
   * right after a pull the last lines may still be on their way.
   */
  waitForBlobGets(digests: Iterable<string>, options: { client: string; from?: number; deadlineMs?: number }): Promise<Map<string, Map<string, number>>>;
  /** `skopeo copy --all` of an OCI layout to `HOST/repo:tag`, trusting `certDir` (a `--dest-cert-dir`). */
  push(layout: ImageLayout, reference: string, certDir: string): Promise<void>;
  /** Stops the registry by pid. Idempotent. */
  stop(): Promise<void>;
}

export async function startTlsRegistry(options: TlsRegistryOptions): Promise<TlsRegistry> {
  const storageDir = join(options.workDir, 'storage');
  await mkdir(storageDir, { recursive: true });
  const config = {
    version: 0.1,
    log: { level: 'info', formatter: 'text', accesslog: { disabled: false } },
    storage: {
      filesystem: { rootdirectory: storageDir },
      maintenance: { uploadpurging: { enabled: false } },
      cache: { blobdescriptor: 'inmemory' },
    },
    http: {
      addr: `0.0.0.0:${HTTPS_PORT}`,
      secret: randomBytes(16).toString('hex'),
      tls: { certificate: options.certificate.certPath, key: options.certificate.keyPath },
    },
    health: { storagedriver: { enabled: false } },
  };
  const configPath = join(options.workDir, 'config.yml');
  await writeFile(configPath, stringify(config));
  const accessLog: AccessRecord[] = [];
  const registry = new NamespaceProcess(`docker-registry ${options.host}`, options.namespace, REGISTRY_BINARY, ['serve', configPath], (line) => {
    const record = parseAccessLine(line);
    if (record) accessLog.push(record);
  });
  try {
    // distribution binds before it logs "listening on [::]:443, tls".
    await registry.waitForLine(/listening on .*tls/, options.startDeadlineMs);
  } catch (error) {
    await registry.stop();
    throw error;
  }

  const blobGets = (from = 0): Map<string, Map<string, number>> => countBlobGets(accessLog.slice(from));

  return {
    host: options.host,
    address: options.address,
    namespace: options.namespace,
    url: `https://${options.host}`,
    certificate: options.certificate,
    storageDir,
    process: registry,
    accessLog,
    blobGets,
    waitForBlobGets(digests, { client, from = 0, deadlineMs = 5_000 }) {
      const wanted = [...digests];
      return pollUntil(
        `${options.host}: blob GETs from ${client} for ${wanted.join(', ')}`,
        () => {
          const counts = blobGets(from);
          return Promise.resolve(wanted.every((digest) => (counts.get(digest)?.get(client) ?? 0) > 0) ? counts : undefined);
        },
        { deadlineMs, intervalMs: 20 },
      );
    },
    async push(layout, reference, certDir) {
      const { repository, tag } = parseRepositoryTag(reference);
      await runInNamespace(
        options.namespace,
        'skopeo',
        [
          '--insecure-policy', 'copy', '--all', '--preserve-digests', '--retry-times', '0', '--quiet',
          '--dest-cert-dir', certDir, '--dest-no-creds',
          `oci:${layout.dir}:${layout.refName}`, `docker://${options.host}/${repository}:${tag}`,
        ],
        { timeoutMs: PUSH_TIMEOUT_MS },
      );
    },
    async stop() {
      await registry.stop();
    },
  };
}
