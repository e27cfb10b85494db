// One-shot commands (skopeo, openssl) with a hard timeout and stderr in every error.
import { execFile } from 'node:child_process';

export interface RunCommandOptions {
  /** Kill (SIGKILL, by pid) and fail after this long. Default 60000 ms. */
  readonly timeoutMs?: number;
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
}

export interface CommandResult {
  readonly stdout: Buffer;
  readonly stderr: string;
}

const MAX_OUTPUT_BYTES = 256 * 1024 * 1024;

/** Command line for messages, with credential arguments (`--*-creds u:p`) masked. */
export function describeCommand(command: string, args: readonly string[]): string {
  const shown = args.map((arg, i) => {
    const previous = i > 0 ? args[i - 1] : undefined;
    if (previous !== undefined && /^--([a-z]+-)?creds$/.test(previous)) return '***';
    return arg.replace(/^(--([a-z]+-)?creds=).*$/, '$1***');
  });
  return [command, ...shown].join(' ');
}

/** Runs `command args` to completion; rejects on non-zero exit or timeout with stderr attached. */
export function runCommand(
  command: string,
  args: readonly string[],
  options: RunCommandOptions = {},
): Promise<CommandResult> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  return new Promise<CommandResult>((resolve, reject) => {
    execFile(
      command,
      [...args],
      {
        cwd: options.cwd,
        env: options.env ?? process.env,
        timeout: timeoutMs,
        killSignal: 'SIGKILL',
        maxBuffer: MAX_OUTPUT_BYTES,
        encoding: 'buffer',
      },
      (error, stdout, stderr) => {
        const stderrText = stderr.toString('utf8');
        if (error) {
          const timedOut = error.killed === true || error.signal === 'SIGKILL';
          const why = timedOut ? `timed out after ${timeoutMs} ms` : `failed (${error.message.split('\n')[0] ?? ''})`;
          reject(new Error(`${describeCommand(command, args)} ${why}\n--- stderr ---\n${stderrText}`, { cause: error }));
          return;
        }
        resolve({ stdout, stderr: stderrText });
      },
    );
  });
}
