// What a benchmark watches of a server process from /proc/<pid>: its memory (serve-rss.ts)
// and how many file descriptors it holds (sockets, cache files), the two that grow when
// connections leak.
import { readdir } from 'node:fs/promises';
import { readProcessMemory } from './serve-rss.js';

export interface ProcessGauges {
  /** Resident set size now, bytes. */
  readonly rss: number;
  /** Peak resident set size since the process started, bytes. */
  readonly hwm: number;
  /** Open file descriptors now. */
  readonly fds: number;
}

export async function readProcessGauges(pid: number): Promise<ProcessGauges> {
  const [{ rss, hwm }, fds] = await Promise.all([readProcessMemory(pid), readdir(`/proc/${pid}/fd`)]);
  return { rss, hwm, fds: fds.length };
}
