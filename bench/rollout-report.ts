// Writes bench/rollout.ts results into the `## Rollout` section of BENCHMARKS.md, leaving every
// other section as it was (other benchmarks own them).
import { readFile, writeFile } from 'node:fs/promises';

const SECTION = '## Rollout';

/** Replaces (or appends) the `## Rollout` section of `path` with `body` (which has no heading). */
export async function writeRolloutSection(path: string, body: string): Promise<void> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    text = '# Benchmarks\n';
  }
  const section = `${SECTION}\n\n${body.trim()}\n`;
  const lines = text.split('\n');
  const start = lines.findIndex((line) => line.trim() === SECTION);
  if (start === -1) {
    await writeFile(path, `${text.trimEnd()}\n\n${section}`);
    return;
  }
  const after = lines.findIndex((line, index) => index > start && /^## /.test(line));
  const head = lines.slice(0, start).join('\n');
  const tail = after === -1 ? '' : `\n${lines.slice(after).join('\n')}`;
  await writeFile(path, `${head}${head ? '\n' : ''}${section}${tail}`);
}

/** A markdown table from a header row and data rows. */
export function table(header: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const line = (cells: readonly string[]): string => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

/** Busy and total jiffies of all CPUs (from /proc/stat), to report utilisation over a span. */
export async function cpuTimes(): Promise<{ busy: number; total: number }> {
  const stat = await readFile('/proc/stat', 'utf8');
  const fields = (stat.split('\n')[0] ?? '').trim().split(/\s+/).slice(1).map(Number);
  const total = fields.reduce((sum, value) => sum + value, 0);
  const idle = (fields[3] ?? 0) + (fields[4] ?? 0);
  return { busy: total - idle, total };
}

/** CPU seconds (user + system) a live process has used so far, from /proc/<pid>/stat. */
export async function processCpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11] ?? 0) + Number(fields[12] ?? 0)) / 100;
}
