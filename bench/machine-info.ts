// The machine a benchmark ran on, as a markdown block for BENCHMARKS.md (shared by the
// rollout benchmarks: their figures mean little without the cores, kernel and tool versions).
import { cpus, freemem, release, totalmem } from 'node:os';
import { runCommand } from '../test/support/run-command.js';

export async function machine(): Promise<string> {
  const free = await runCommand('free', ['-h']).then((r) => r.stdout.toString('utf8').trimEnd(), () => `${(totalmem() / 2 ** 30).toFixed(1)} GiB total, ${(freemem() / 2 ** 30).toFixed(1)} GiB free`);
  const nproc = await runCommand('nproc', []).then((r) => r.stdout.toString('utf8').trim(), () => String(cpus().length));
  const skopeo = await runCommand('skopeo', ['--version']).then((r) => r.stdout.toString('utf8').trim(), () => 'skopeo ?');
  const registry = await runCommand('docker-registry', ['--version']).then((r) => r.stdout.toString('utf8').trim(), () => 'docker-registry ?');
  return [
    `- nproc: ${nproc} (${cpus()[0]?.model ?? 'unknown CPU'})`,
    `- kernel: ${release()}; Node ${process.version}; ${skopeo}; ${registry}`,
    '- free -h:',
    '```',
    free,
    '```',
  ].join('\n');
}
