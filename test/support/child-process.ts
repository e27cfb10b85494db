// Long-running child processes for integration tests: captured output, bounded waits, and a
// stop() that always ends the process by its pid. A process-wide registry kills whatever a
// failing test left behind when the test process exits (safety net, not the normal path).
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, connect } from 'node:net';

const OUTPUT_KEEP_BYTES = 64 * 1024;

export interface StartProcessOptions {
  /** Short name used in error messages. */
  readonly name?: string;
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
}

export interface StopOptions {
  /** How long to wait after SIGTERM before SIGKILL. Default 5000 ms. */
  readonly deadlineMs?: number;
}

export interface ExitInfo {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface WaitOptions {
  /** Absolute time budget for the whole wait. Default 10000 ms. */
  readonly deadlineMs?: number;
  /** Pause between attempts. Default 50 ms. */
  readonly intervalMs?: number;
  /** Fail fast (with its output) when this process exits while we wait. */
  readonly process?: RunningProcess;
}

export interface WaitForHttpOptions extends WaitOptions {
  /** Which statuses mean "up". Default: any HTTP answer at all. */
  readonly accept?: (status: number) => boolean;
}

/** Keeps the last `limit` bytes written to it. */
class TailBuffer {
  private chunks: Buffer[] = [];
  private size = 0;

  constructor(private readonly limit: number) {}

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
    while (this.size > this.limit && this.chunks.length > 1) {
      const dropped = this.chunks.shift();
      this.size -= dropped?.length ?? 0;
    }
    if (this.size > this.limit) {
      const only = Buffer.concat(this.chunks);
      this.chunks = [only.subarray(only.length - this.limit)];
      this.size = this.limit;
    }
  }

  toString(): string {
    return Buffer.concat(this.chunks).toString('utf8');
  }
}

const live = new Set<RunningProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const child of live) child.killNow();
  });
}

export class RunningProcess {
  readonly name: string;
  readonly pid: number;
  /** Settles when the process has exited (never rejects). */
  readonly exited: Promise<ExitInfo>;
  private exitInfo: ExitInfo | undefined;
  private readonly stdoutTail = new TailBuffer(OUTPUT_KEEP_BYTES);
  private readonly stderrTail = new TailBuffer(OUTPUT_KEEP_BYTES);
  private stopping: Promise<ExitInfo> | undefined;

  constructor(
    private readonly child: ChildProcess,
    name: string,
  ) {
    if (child.pid === undefined) throw new Error(`${name}: spawn returned no pid`);
    this.name = name;
    this.pid = child.pid;
    child.stdout?.on('data', (chunk: Buffer) => this.stdoutTail.push(chunk));
    child.stderr?.on('data', (chunk: Buffer) => this.stderrTail.push(chunk));
    this.exited = new Promise<ExitInfo>((resolve) => {
      child.once('exit', (code, signal) => {
        this.exitInfo = { code, signal };
        live.delete(this);
        resolve(this.exitInfo);
      });
    });
  }

  get hasExited(): ExitInfo | undefined {
    return this.exitInfo;
  }

  get stdout(): string {
    return this.stdoutTail.toString();
  }

  get stderr(): string {
    return this.stderrTail.toString();
  }

  /** Last output of both streams, labelled, for error messages. */
  diagnostics(): string {
    const exit = this.exitInfo
      ? `exited code=${String(this.exitInfo.code)} signal=${String(this.exitInfo.signal)}`
      : 'running';
    return `[${this.name} pid ${this.pid}, ${exit}]\n--- stdout ---\n${this.stdout}\n--- stderr ---\n${this.stderr}`;
  }

  /** Polls (bounded) until stdout or stderr matches `pattern`; fails fast if the process exits. */
  async waitForOutput(pattern: RegExp, options: Omit<WaitOptions, 'process'> = {}): Promise<void> {
    await pollUntil(
      `${this.name}: output matching ${String(pattern)}`,
      () => Promise.resolve(pattern.test(this.stdout) || pattern.test(this.stderr) ? true : undefined),
      { intervalMs: 10, ...options, process: this },
    );
  }

  /** SIGTERM, then SIGKILL when the deadline passes. Idempotent; resolves once it has exited. */
  stop(options: StopOptions = {}): Promise<ExitInfo> {
    if (this.exitInfo) return Promise.resolve(this.exitInfo);
    this.stopping ??= (async () => {
      signalPid(this.pid, 'SIGTERM');
      const deadlineMs = options.deadlineMs ?? 5000;
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), deadlineMs);
      });
      const first = await Promise.race([this.exited, timedOut]);
      clearTimeout(timer);
      if (first !== 'timeout') return first;
      signalPid(this.pid, 'SIGKILL');
      return this.exited;
    })();
    return this.stopping;
  }

  /** Synchronous SIGKILL by pid: for the exit hook only. */
  killNow(): void {
    if (!this.exitInfo) signalPid(this.pid, 'SIGKILL');
  }
}

function signalPid(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch (error) {
    // ESRCH: it is already gone, which is what we wanted.
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}

/** Spawns `command args` with stdin closed and stdout/stderr captured. */
export function startProcess(
  command: string,
  args: readonly string[],
  options: StartProcessOptions = {},
): RunningProcess {
  installExitHook();
  const child = spawn(command, [...args], {
    cwd: options.cwd,
    env: options.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const name = options.name ?? command;
  // spawn reports ENOENT asynchronously; pid is undefined in that case.
  if (child.pid === undefined) {
    child.on('error', () => undefined);
    throw new Error(`${name}: could not spawn ${command} (is it installed?)`);
  }
  const running = new RunningProcess(child, name);
  live.add(running);
  return running;
}

/** Processes started by this module and not yet exited (for assertions in teardown). */
export function liveProcesses(): readonly RunningProcess[] {
  return [...live];
}

/** A port that was free a moment ago on 127.0.0.1 (the OS picked it). */
export async function getFreePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('getFreePort: no TCP address');
  return address.port;
}

/**
 * Polls `attempt` until it returns a value other than undefined, or the deadline passes.
 * Errors thrown by `attempt` count as "not yet" and the last one is reported on timeout.
 */
export async function pollUntil<T>(
  what: string,
  attempt: () => Promise<T | undefined>,
  options: WaitOptions = {},
): Promise<T> {
  const deadline = Date.now() + (options.deadlineMs ?? 10_000);
  const interval = options.intervalMs ?? 50;
  let lastError: unknown;
  for (;;) {
    const exit = options.process?.hasExited;
    if (exit && options.process) {
      throw new Error(`${what}: process exited before it was ready\n${options.process.diagnostics()}`);
    }
    try {
      const value = await attempt();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() >= deadline) {
      const cause = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
      const diag = options.process ? `\n${options.process.diagnostics()}` : '';
      throw new Error(`${what}: not ready within ${options.deadlineMs ?? 10_000} ms${cause}${diag}`);
    }
    await new Promise((resolve) => setTimeout(resolve, interval));
  }
}

/** Waits until `url` answers HTTP (any status unless `accept` says otherwise). */
export async function waitForHttp(url: string, options: WaitForHttpOptions = {}): Promise<number> {
  const accept = options.accept ?? (() => true);
  return pollUntil(
    `waitForHttp ${url}`,
    async () => {
      const response = await fetch(url, { signal: AbortSignal.timeout(1000), redirect: 'manual' });
      await response.body?.cancel();
      return accept(response.status) ? response.status : undefined;
    },
    options,
  );
}

/** Waits until a TCP connection to host:port succeeds. */
export async function waitForPort(port: number, options: WaitOptions & { host?: string } = {}): Promise<void> {
  const host = options.host ?? '127.0.0.1';
  await pollUntil(
    `waitForPort ${host}:${port}`,
    () =>
      new Promise<true>((resolve, reject) => {
        const socket = connect({ host, port });
        socket.setTimeout(1000, () => socket.destroy(new Error('connect timeout')));
        socket.once('connect', () => {
          socket.destroy();
          resolve(true);
        });
        socket.once('error', reject);
      }),
    options,
  );
}
