// A long-running process inside a network namespace (`ip netns exec NS command ...`, which
// execs, so the pid is the command's own): every output line goes to the listeners, the last
// lines are kept for error messages, stop() ends it by pid (SIGTERM, then SIGKILL), and a
// process-wide exit hook kills whatever a crashed run left behind.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

const REPO_ROOT = join(import.meta.dirname, '..', '..');
const STOP_GRACE_MS = 5_000;
const TAIL_LINES = 300;

const live = new Set<NamespaceProcess>();
process.once('exit', () => {
  for (const child of live) child.killNow();
});

export class NamespaceProcess {
  private readonly child: ChildProcess;
  private readonly tail: string[] = [];
  private readonly listeners = new Set<(line: string) => void>();
  private exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  /** Settles once the process has exited (never rejects). */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(
    readonly name: string,
    namespace: string,
    command: string,
    args: readonly string[],
    onLine?: (line: string) => void,
  ) {
    this.child = spawn('ip', ['netns', 'exec', namespace, command, ...args], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    if (this.child.pid === undefined) {
      this.child.on('error', () => undefined);
      throw new Error(`${name}: could not spawn ${command}`);
    }
    live.add(this);
    if (onLine) this.listeners.add(onLine);
    this.exited = new Promise((resolve) =>
      this.child.once('exit', (code, signal) => {
        this.exit = { code, signal };
        live.delete(this);
        resolve(this.exit);
      }),
    );
    for (const stream of [this.child.stdout, this.child.stderr]) {
      if (!stream) continue;
      createInterface({ input: stream }).on('line', (line) => {
        this.tail.push(line);
        if (this.tail.length > TAIL_LINES) this.tail.shift();
        for (const listener of this.listeners) listener(line);
      });
    }
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get hasExited(): boolean {
    return this.exit !== undefined;
  }

  /** The kept output lines (the last few hundred). */
  get lines(): readonly string[] {
    return this.tail;
  }

  diagnostics(): string {
    const state = this.exit ? `exited code=${String(this.exit.code)} signal=${String(this.exit.signal)}` : 'running';
    return `[${this.name} pid ${String(this.child.pid)}, ${state}]\n${this.tail.join('\n')}`;
  }

  /** Resolves at the first line (already kept, or still to come) matching `pattern`. */
  waitForLine(pattern: RegExp, deadlineMs: number): Promise<void> {
    if (this.tail.some((line) => pattern.test(line))) return Promise.resolve();
    return this.waitFor((line) => pattern.test(line), String(pattern), deadlineMs);
  }

  /** Resolves when `done` returns true for an incoming line; fails on exit or deadline. */
  waitFor(done: (line: string) => boolean, what: string, deadlineMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const finish = (error?: Error): void => {
        clearTimeout(timer);
        this.listeners.delete(listener);
        if (error) reject(error);
        else resolve();
      };
      const listener = (line: string): void => {
        if (done(line)) finish();
      };
      const timer = setTimeout(() => finish(new Error(`${this.name}: no ${what} within ${deadlineMs} ms\n${this.diagnostics()}`)), deadlineMs);
      this.listeners.add(listener);
      void this.exited.then(() => finish(new Error(`${this.name} exited while waiting for ${what}\n${this.diagnostics()}`)));
    });
  }

  /** SIGTERM by pid, SIGKILL after a grace period. Idempotent. */
  async stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.exit) return this.exit;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), STOP_GRACE_MS);
    const exit = await this.exited;
    clearTimeout(timer);
    return exit;
  }

  killNow(): void {
    if (!this.exit) this.child.kill('SIGKILL');
  }
}
