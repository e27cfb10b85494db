// Memory of another process from /proc/<pid>/status: VmRSS sampled on an interval, and the
// kernel's own high-water mark (VmHWM), which also catches peaks between samples.
import { readFile } from 'node:fs/promises';

export interface ProcessMemory {
  /** Resident set size now, bytes. */
  readonly rss: number;
  /** Peak resident set size since the process started, bytes. */
  readonly hwm: number;
}

export async function readProcessMemory(pid: number): Promise<ProcessMemory> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string): number => {
    const match = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(status);
    if (!match?.[1]) throw new Error(`/proc/${pid}/status has no ${field}`);
    return Number(match[1]) * 1024;
  };
  return { rss: kib('VmRSS'), hwm: kib('VmHWM') };
}

export interface RssSummary {
  /** Largest sampled VmRSS. */
  readonly maxSampled: number;
  /** VmHWM at the last sample. */
  readonly hwm: number;
  readonly samples: number;
  /** VmRSS at the first sample (before the load). */
  readonly first: number;
}

/** Samples `pid` every `intervalMs` until stop() (which takes one last sample). */
export class RssSampler {
  private maxSampled = 0;
  private hwm = 0;
  private first = 0;
  private samples = 0;
  private readonly timer: NodeJS.Timeout;
  private pending: Promise<void> = Promise.resolve();

  constructor(
    private readonly pid: number,
    intervalMs = 50,
  ) {
    this.timer = setInterval(() => {
      this.pending = this.sample();
    }, intervalMs);
    this.pending = this.sample();
  }

  async stop(): Promise<RssSummary> {
    clearInterval(this.timer);
    await this.pending;
    await this.sample();
    return { maxSampled: this.maxSampled, hwm: this.hwm, samples: this.samples, first: this.first };
  }

  private async sample(): Promise<void> {
    try {
      const memory = await readProcessMemory(this.pid);
      if (this.samples === 0) this.first = memory.rss;
      this.samples += 1;
      this.maxSampled = Math.max(this.maxSampled, memory.rss);
      this.hwm = Math.max(this.hwm, memory.hwm);
    } catch {
      // The process has exited; the summary keeps what was seen.
    }
  }
}
