// Heap snapshots of a benchmark's server process, to find what a long run keeps: the server
// is started with `heapSnapshotNodeArgs(dir)` and `takeHeapSnapshot` asks it for one by signal.
// Node writes the snapshot itself (--heapsnapshot-signal), so the server needs no debug route.
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';

const SIGNAL = 'SIGUSR2';
/** Writing a snapshot of a few hundred MiB of heap takes seconds on a busy machine; more means it is stuck. */
const SNAPSHOT_DEADLINE_MS = 120_000;
const POLL_MS = 500;

/** The `node` flags that make the process write a snapshot into `dir` on SIGUSR2. */
export function heapSnapshotNodeArgs(dir: string): string[] {
  return [`--heapsnapshot-signal=${SIGNAL}`, `--diagnostic-dir=${dir}`];
}

/** Signals `pid` and resolves with the new snapshot's path once its size stops changing. */
export async function takeHeapSnapshot(pid: number, dir: string): Promise<string> {
  const before = new Set(await readdir(dir));
  process.kill(pid, SIGNAL);
  const deadline = Date.now() + SNAPSHOT_DEADLINE_MS;
  let lastSize = -1;
  while (Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    const fresh = (await readdir(dir)).find((name) => name.endsWith('.heapsnapshot') && !before.has(name));
    if (fresh === undefined) continue;
    const path = join(dir, fresh);
    const { size } = await stat(path);
    // Node writes the file in pieces; two polls at the same non-zero size mean it is done.
    if (size > 0 && size === lastSize) return path;
    lastSize = size;
  }
  throw new Error(`no heap snapshot from process ${pid} in ${dir} within ${SNAPSHOT_DEADLINE_MS / 1000} s`);
}
