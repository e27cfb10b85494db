// wrk as the load generator for bench/serve.ts: one thread, N connections, rotating over a
// list of paths, with exact totals reported by a Lua `done` hook.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCommand } from '../test/support/run-command.js';

export interface WrkRun {
  readonly baseUrl: string;
  readonly paths: readonly string[];
  readonly connections: number;
  readonly seconds: number;
  /** Where the generated Lua script goes. */
  readonly workDir: string;
}

export interface WrkResult {
  readonly requests: number;
  readonly bytes: number;
  readonly seconds: number;
  /** Connect, read, write, non-2xx and timeout errors, summed. */
  readonly errors: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** Bytes per second over the run. */
  readonly throughput: number;
}

const RESULT_LINE = /^RESULT (\d+) (\d+) (\d+) (\d+) (\d+) (\d+)$/m;

function luaScript(paths: readonly string[]): string {
  const list = paths.map((path) => JSON.stringify(path)).join(',\n  ');
  return `local paths = {
  ${list}
}
local i = 0
request = function()
  i = i % #paths + 1
  return wrk.format("GET", paths[i])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %d %d %d %d %d %d\\n", summary.requests, summary.bytes, summary.duration,
    e.connect + e.read + e.write + e.status + e.timeout, latency:percentile(50), latency:percentile(99)))
end
`;
}

export async function runWrk(run: WrkRun): Promise<WrkResult> {
  const script = join(run.workDir, `wrk-${run.paths.length}-${run.connections}.lua`);
  await writeFile(script, luaScript(run.paths));
  const first = run.paths[0];
  if (first === undefined) throw new Error('runWrk: no paths');
  const { stdout } = await runCommand(
    'wrk',
    ['-t1', `-c${run.connections}`, `-d${run.seconds}s`, '--timeout', '30s', '-s', script, `${run.baseUrl}${first}`],
    { timeoutMs: (run.seconds + 60) * 1000 },
  );
  const text = stdout.toString('utf8');
  const match = RESULT_LINE.exec(text);
  if (!match) throw new Error(`wrk printed no RESULT line:\n${text}`);
  const [requests, bytes, durationUs, errors, p50Us, p99Us] = match.slice(1).map(Number) as [number, number, number, number, number, number];
  const seconds = durationUs / 1e6;
  return { requests, bytes, seconds, errors, p50Ms: p50Us / 1000, p99Ms: p99Us / 1000, throughput: bytes / seconds };
}
