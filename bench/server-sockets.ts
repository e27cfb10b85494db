// How long each socket lived inside another process, seen from its /proc/<pid>/fd table
// (socket inodes are unique while open, fd numbers are reused). This is the server's own view
// of a connection: a client's connect() returns once the kernel finished the handshake, which
// can be long before the server accept()s it when the accept queue is full or the server is
// starved of CPU, so client-side timestamps overstate how long the server held a socket.
import { readdir, readlink } from 'node:fs/promises';

export interface SocketLifetimes {
  /** Sockets seen open (not counting those open when tracking began). */
  readonly seen: number;
  /** Still open at stop(). */
  readonly open: number;
  /** Lifetimes of the sockets that closed, ms, sorted ascending. */
  readonly closedMs: readonly number[];
}

async function socketInodes(pid: number): Promise<Set<string>> {
  const fds = await readdir(`/proc/${pid}/fd`).catch(() => []);
  const links = await Promise.all(fds.map((fd) => readlink(`/proc/${pid}/fd/${fd}`).catch(() => '')));
  return new Set(links.filter((link) => link.startsWith('socket:')));
}

/** Polls `pid` every `intervalMs` until stop(); lifetimes are accurate to about one interval. */
export class SocketLifetimeTracker {
  private readonly firstSeen = new Map<string, number>();
  private readonly closedMs: number[] = [];
  private baseline: Set<string> | undefined;
  private stopped = false;
  private readonly loop: Promise<void>;
  /** Settles once the sockets open before tracking began are known: connect clients after it. */
  readonly ready: Promise<void>;
  private markReady: () => void = () => undefined;

  constructor(
    private readonly pid: number,
    private readonly intervalMs = 200,
  ) {
    this.ready = new Promise((resolve) => (this.markReady = resolve));
    this.loop = this.run();
  }

  async stop(): Promise<SocketLifetimes> {
    this.stopped = true;
    await this.loop;
    return { seen: this.firstSeen.size + this.closedMs.length, open: this.firstSeen.size, closedMs: [...this.closedMs].sort((a, b) => a - b) };
  }

  private async run(): Promise<void> {
    this.baseline = await socketInodes(this.pid);
    this.markReady();
    while (!this.stopped) {
      const now = Date.now();
      const open = await socketInodes(this.pid);
      for (const inode of open) if (!this.baseline.has(inode) && !this.firstSeen.has(inode)) this.firstSeen.set(inode, now);
      for (const [inode, since] of this.firstSeen) {
        if (open.has(inode)) continue;
        this.firstSeen.delete(inode);
        this.closedMs.push(now - since);
      }
      await new Promise((resolve) => setTimeout(resolve, this.intervalMs));
    }
  }
}

export function percentile(sorted: readonly number[], fraction: number): number | undefined {
  if (sorted.length === 0) return undefined;
  return sorted[Math.min(sorted.length - 1, Math.floor(fraction * sorted.length))];
}
