// nginx as the reference static file server for bench/serve.ts: our own minimal config in a
// temp dir, in the foreground (`daemon off`), sendfile on, serving a directory on loopback.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { getFreePort, startProcess, waitForHttp, type RunningProcess } from '../test/support/child-process.js';

export interface NginxServer {
  readonly url: string;
  readonly process: RunningProcess;
  /** The nginx.conf it runs with, for the report. */
  readonly config: string;
}

export interface NginxOptions {
  /** Directory served at `/`. */
  readonly root: string;
  /** Scratch directory for the config, pid file and nginx's temp paths. */
  readonly workDir: string;
  /** nginx worker processes; 1 matches EdgePier's single event loop. */
  readonly workers: number;
}

export async function startNginx(options: NginxOptions): Promise<NginxServer> {
  const port = await getFreePort();
  const temp = join(options.workDir, 'nginx-temp');
  await mkdir(temp, { recursive: true });
  // Run as root (a root-owned 0700 temp dir is not readable by `nobody`); elsewhere the
  // directive is ignored with a warning.
  const user = process.getuid?.() === 0 ? 'user root;\n' : '';
  const config = `${user}worker_processes ${options.workers};
daemon off;
pid ${join(options.workDir, 'nginx.pid')};
error_log stderr warn;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  keepalive_timeout 65s;
  default_type application/octet-stream;
  client_body_temp_path ${temp}/body;
  proxy_temp_path ${temp}/proxy;
  fastcgi_temp_path ${temp}/fastcgi;
  uwsgi_temp_path ${temp}/uwsgi;
  scgi_temp_path ${temp}/scgi;
  server {
    listen 127.0.0.1:${port};
    root ${options.root};
    location / { }
  }
}
`;
  const configPath = join(options.workDir, 'nginx.conf');
  await writeFile(configPath, config);
  const nginx = startProcess('nginx', ['-e', 'stderr', '-p', options.workDir, '-c', configPath], { name: 'nginx' });
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitForHttp(`${url}/`, { process: nginx, deadlineMs: 10_000 });
  } catch (error) {
    await nginx.stop();
    throw error;
  }
  return { url, process: nginx, config };
}
