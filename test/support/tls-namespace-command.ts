// Commands run inside a network namespace for the TLS site (`ip netns exec NS command ...`,
// which execs, so exit code and pid are the command's own). The environment is the test
// runner's minus every proxy variable: a CI machine's HTTPS_PROXY would otherwise send curl
// and skopeo to a proxy that does not exist in the namespace, or worse, bypass the proxy
// under test. A test that wants a proxy sets it in `env`.
import { execFile } from 'node:child_process';
import { NamespaceProcess } from './site-namespace-process.js';

export interface NamespaceCommandOptions {
  /** Added to (and overriding) the runner's environment, which has its proxy variables removed. */
  readonly env?: Readonly<Record<string, string>>;
  /** SIGKILL (by pid) and fail after this long. Default 30000 ms. */
  readonly timeoutMs?: number;
}

export interface NamespaceCommandResult {
  readonly stdout: string;
  readonly stderr: string;
}

/** A command that ran and failed: its exit code (curl's 60 is "certificate not trusted") and output. */
export class NamespaceCommandError extends Error {
  constructor(
    message: string,
    /** null when it was killed (timeout) or could not be started. */
    readonly exitCode: number | null,
    readonly signal: string | null,
    readonly stdout: string,
    readonly stderr: string,
  ) {
    super(message);
    this.name = 'NamespaceCommandError';
  }
}

const PROXY_VARIABLES = ['http_proxy', 'https_proxy', 'all_proxy', 'no_proxy', 'ftp_proxy'].flatMap((name) => [name, name.toUpperCase()]);
const DEFAULT_TIMEOUT_MS = 30_000;
const MAX_OUTPUT_BYTES = 64 * 1024 * 1024;

/** The runner's environment without proxy variables, plus `extra`. */
export function namespaceEnv(extra: Readonly<Record<string, string>> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of PROXY_VARIABLES) delete env[name];
  return { ...env, ...extra };
}

/** Runs `command args` in `namespace` to completion; rejects with a NamespaceCommandError unless it exits 0. */
export function runInNamespace(
  namespace: string,
  command: string,
  args: readonly string[],
  options: NamespaceCommandOptions = {},
): Promise<NamespaceCommandResult> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  return new Promise((resolve, reject) => {
    execFile(
      'ip',
      ['netns', 'exec', namespace, command, ...args],
      { env: namespaceEnv(options.env), timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: MAX_OUTPUT_BYTES, encoding: 'utf8' },
      (error, stdout, stderr) => {
        if (!error) {
          resolve({ stdout, stderr });
          return;
        }
        // execFile puts the exit code in `code` as a number, a spawn failure as a string.
        const exitCode = typeof error.code === 'number' ? error.code : null;
        const timedOut = error.killed === true;
        const why = timedOut ? `timed out after ${timeoutMs} ms` : `exited ${String(exitCode ?? error.code)}${error.signal ? ` (${error.signal})` : ''}`;
        reject(new NamespaceCommandError(`[${namespace}] ${[command, ...args].join(' ')} ${why}\n--- stderr ---\n${stderr}`, exitCode, error.signal ?? null, stdout, stderr));
      },
    );
  });
}

export interface NamespaceSpawnOptions {
  /** Added to (and overriding) the runner's environment, which has its proxy variables removed. */
  readonly env?: Readonly<Record<string, string>>;
  /** Called with every stdout and stderr line. */
  readonly onLine?: (line: string) => void;
}

/**
 * Starts a long-running `command args` in `namespace` as a NamespaceProcess (stopped by pid).
 * The environment is set with `env -u NAME ... NAME=VALUE command`: `env` execs too, so the
 * pid stays the command's own.
 */
export function spawnInNamespace(
  name: string,
  namespace: string,
  command: string,
  args: readonly string[],
  options: NamespaceSpawnOptions = {},
): NamespaceProcess {
  const unset = PROXY_VARIABLES.flatMap((variable) => ['-u', variable]);
  const set = Object.entries(options.env ?? {}).map(([key, value]) => `${key}=${value}`);
  return new NamespaceProcess(name, namespace, 'env', [...unset, ...set, command, ...args], options.onLine);
}
