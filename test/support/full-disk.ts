// A real tmpfs of a few MiB that a test fills until writes get ENOSPC (mounting needs root).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { makeTempDir } from './temp-dir.js';

export const canMount = process.getuid?.() === 0;

/** Mounts a 2 MiB tmpfs, unmounted and removed after the test. */
export async function smallDisk(t: TestContext): Promise<string> {
  const dir = await makeTempDir('tmpfs');
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', dir.path]);
  t.after(async () => {
    execFileSync('umount', [dir.path]);
    await dir.remove();
  });
  return dir.path;
}

/** Fills the filesystem until the next write gets ENOSPC. */
export async function fill(dir: string): Promise<void> {
  const file = await open(join(dir, 'filler'), 'w');
  try {
    const block = Buffer.alloc(64 * 1024, 1);
    for (let written = 0; written < 64 * 1024 * 1024; written += block.length) await file.write(block);
    assert.fail('the small disk never filled up');
  } catch (error) {
    assert.equal((error as NodeJS.ErrnoException).code, 'ENOSPC');
  } finally {
    await file.close();
  }
}
