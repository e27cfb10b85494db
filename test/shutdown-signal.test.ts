// The root cause of `npm start` + SIGTERM dying about one run in three: a SIGTERM that
// arrives while write-file-atomic is writing (the usage journal's rewrite right after
// start-up) met signal-exit's listener, which re-raises the signal when it is the only
// listener left. Reproduced deterministically here: a child process waits for its shutdown
// signal while a large atomic write is under way, and signals itself.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { makeTempDir } from './support/temp-dir.js';

const ROOT = join(import.meta.dirname, '..');

async function runChild(listener: 'shutdownSignal' | 'once', dir: string): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string }> {
  const script = `
    import writeFileAtomic from 'write-file-atomic';
    import { shutdownSignal } from ${JSON.stringify(join(ROOT, 'cli', 'shutdown-signal.ts'))};
    const stopped = ${listener === 'once' ? "new Promise((resolve) => process.once('SIGTERM', resolve))" : 'shutdownSignal(() => undefined)'};
    const writing = writeFileAtomic(${JSON.stringify(join(dir, 'journal'))}, Buffer.alloc(64 * 1024 * 1024));
    process.kill(process.pid, 'SIGTERM');
    await stopped;
    await writing.catch(() => undefined);
    process.stdout.write('closed gracefully\\n');
  `;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  let stdout = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.once('exit', (c, s) => resolve([c, s])));
  clearTimeout(timer);
  return { code, signal, stdout };
}

test('a SIGTERM during an atomic write: a once-listener dies of it, shutdownSignal closes gracefully', async (t) => {
  const dir = await makeTempDir('shutdown-signal');
  t.after(() => dir.remove());
  // The control: the listener serve had before. It must fail here, or this test proves nothing.
  const before = await runChild('once', dir.path);
  assert.equal(before.signal, 'SIGTERM', 'signal-exit re-raised the signal past a once-listener');
  assert.doesNotMatch(before.stdout, /closed gracefully/);
  const after = await runChild('shutdownSignal', dir.path);
  assert.deepEqual({ code: after.code, signal: after.signal }, { code: 0, signal: null });
  assert.match(after.stdout, /closed gracefully/);
});
