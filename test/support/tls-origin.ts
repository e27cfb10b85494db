// A plain HTTPS web server that is not a registry: nginx on port 443 inside a network
// namespace, answering every path with one fixed small body. A separate real server, so a
// test can tell whether a CONNECT tunnel delivered the origin's own certificate and bytes
// (and not something the proxy made up). Access log parsed like the registry's.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseAccessLine, type AccessRecord } from './site-cloud-registry.js';
import { NamespaceProcess } from './site-namespace-process.js';
import { HTTPS_PORT } from './tls-registry.js';
import type { CertificateFiles } from './tls-test-pki.js';

// Whatever nginx's `return 200 "..."` takes literally: no quotes, backslashes or `$`.
const SAFE_BODY = /^[\w .,:;!?/+-]{1,200}$/;

export interface TlsOriginOptions {
  readonly host: string;
  readonly namespace: string;
  readonly address: string;
  readonly certificate: CertificateFiles;
  /** Answer to every request, as text/plain. */
  readonly body: string;
  /** Scratch directory (config, pid, temp paths); the caller removes it. */
  readonly workDir: string;
}

export interface TlsOrigin {
  readonly host: string;
  readonly address: string;
  readonly namespace: string;
  /** `https://HOST/` (port 443). */
  readonly url: string;
  readonly body: string;
  readonly certificate: CertificateFiles;
  readonly process: NamespaceProcess;
  /**
   * Every request logged so far (nginx's combined format). nginx logs a request after
   * answering it, so poll when the newest one matters.
   */
  readAccessLog(): Promise<AccessRecord[]>;
  /** Stops nginx by pid. Idempotent. */
  stop(): Promise<void>;
}

/** Starts nginx; it is listening once the caller can reach it (see tls-site.ts's readiness poll). */
export async function startTlsOrigin(options: TlsOriginOptions): Promise<TlsOrigin> {
  if (!SAFE_BODY.test(options.body)) throw new Error(`origin body must match ${String(SAFE_BODY)}: ${JSON.stringify(options.body)}`);
  const temp = join(options.workDir, 'temp');
  // A file: nginx cannot open /dev/stdout when stdout is Node's pipe (a socketpair, ENXIO).
  const accessLogPath = join(options.workDir, 'access.log');
  await mkdir(temp, { recursive: true });
  // One process (`master_process off`): no worker outlives a SIGKILL of the pid we stop.
  const config = `daemon off;
master_process off;
pid ${join(options.workDir, 'nginx.pid')};
error_log stderr notice;
events { worker_connections 256; }
http {
  access_log ${accessLogPath} combined;
  client_body_temp_path ${temp}/body;
  proxy_temp_path ${temp}/proxy;
  fastcgi_temp_path ${temp}/fastcgi;
  uwsgi_temp_path ${temp}/uwsgi;
  scgi_temp_path ${temp}/scgi;
  server {
    listen ${HTTPS_PORT} ssl;
    server_name ${options.host};
    ssl_certificate ${options.certificate.certPath};
    ssl_certificate_key ${options.certificate.keyPath};
    location / {
      default_type text/plain;
      return 200 "${options.body}";
    }
  }
}
`;
  const configPath = join(options.workDir, 'nginx.conf');
  await writeFile(configPath, config);
  const nginx = new NamespaceProcess(`nginx ${options.host}`, options.namespace, 'nginx', ['-e', 'stderr', '-p', options.workDir, '-c', configPath]);
  return {
    host: options.host,
    address: options.address,
    namespace: options.namespace,
    url: `https://${options.host}/`,
    body: options.body,
    certificate: options.certificate,
    process: nginx,
    async readAccessLog() {
      const text = await readFile(accessLogPath, 'utf8').catch((error: unknown) => {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return '';
        throw error;
      });
      return text.split('\n').flatMap((line) => parseAccessLine(line) ?? []);
    },
    async stop() {
      await nginx.stop();
    },
  };
}
