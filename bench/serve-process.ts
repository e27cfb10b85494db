// One `edgepier serve` process for a benchmark, on loopback: a free client port, the peer API
// on any port, no mDNS, a cache directory and an upstream; up once `/v2/` answers. A process
// that does not come up within the minute is stopped by its pid before the error is thrown.
// It runs with the environment the deploy files give the node.
import { MALLOC_ENVIRONMENT } from '../cache/read-buffer-mapping.js';
import { getFreePort, startProcess, waitForHttp, type RunningProcess } from '../test/support/child-process.js';

const START_DEADLINE_MS = 60_000;

/** This process's environment plus what every deploy file sets (read-buffer-mapping.ts): the node as it runs in production. */
export const DEPLOYED_ENVIRONMENT: NodeJS.ProcessEnv = { ...process.env, ...MALLOC_ENVIRONMENT };

export interface ServeProcessOptions {
  /** The `node` arguments that run the CLI: `dist/cli/main.js` (and e.g. --cpu-prof before it), or tsx and cli/main.ts. */
  readonly entry: readonly string[];
  readonly cacheDir: string;
  readonly upstream: string;
  /** More `serve` flags, after the ones above. */
  readonly args?: readonly string[];
  /** Names the process in its errors. */
  readonly name: string;
  readonly cwd?: string;
  /** The process environment; default DEPLOYED_ENVIRONMENT. */
  readonly env?: NodeJS.ProcessEnv;
}

export interface ServeProcess {
  /** `http://127.0.0.1:PORT`, the client API. */
  readonly url: string;
  readonly port: number;
  readonly process: RunningProcess;
}

export async function startServeProcess(options: ServeProcessOptions): Promise<ServeProcess> {
  const port = await getFreePort();
  const child = startProcess(
    process.execPath,
    [
      ...options.entry,
      'serve',
      '--listen',
      `127.0.0.1:${port}`,
      '--peer-listen',
      '127.0.0.1:0',
      '--cache-dir',
      options.cacheDir,
      '--upstream',
      options.upstream,
      '--no-mdns',
      ...(options.args ?? []),
    ],
    { name: options.name, env: options.env ?? DEPLOYED_ENVIRONMENT, ...(options.cwd ? { cwd: options.cwd } : {}) },
  );
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitForHttp(`${url}/v2/`, { process: child, deadlineMs: START_DEADLINE_MS });
  } catch (error) {
    await child.stop();
    throw error;
  }
  return { url, port, process: child };
}
