// The faults a rollout is put through, as real system actions: the WAN link of a WanSite taken
// down and up again (`ip link` on the router's end of the WAN veth: packets stop, connections
// stay open, as when a site's uplink drops), and a small tmpfs as a node's cache that is then
// filled until writes get ENOSPC (a node whose disk fills up mid-rollout). Mounting needs root.
import { execFile } from 'node:child_process';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { WanSite } from './site-wan.js';
import { makeTempDir } from './temp-dir.js';

const run = promisify(execFile);
const IP_TIMEOUT_MS = 10_000;
const FILL_BLOCK_BYTES = 1024 * 1024;

/** Sets the router's end of the WAN veth down or up (site-wan.ts: device `wan` in the `<prefix>-hub` namespace). */
export async function setWanLink(wan: WanSite, state: 'up' | 'down'): Promise<void> {
  await run('ip', ['-n', `${wan.site.prefix}-hub`, 'link', 'set', 'wan', state], { timeout: IP_TIMEOUT_MS });
}

/** Whether the router's end of the WAN veth is administratively up. */
export async function wanLinkIsUp(wan: WanSite): Promise<boolean> {
  const { stdout } = await run('ip', ['-n', `${wan.site.prefix}-hub`, '-j', 'link', 'show', 'dev', 'wan'], { timeout: IP_TIMEOUT_MS });
  const [link] = JSON.parse(stdout) as { flags?: string[] }[];
  return link?.flags?.includes('UP') ?? false;
}

/** The `tc qdisc` lines of both ends of the WAN link (to prove the shaping survived a cut). */
export async function wanQdiscs(wan: WanSite): Promise<string> {
  const hub = await run('ip', ['netns', 'exec', `${wan.site.prefix}-hub`, 'tc', 'qdisc', 'show', 'dev', 'wan'], { timeout: IP_TIMEOUT_MS });
  const cloud = await run('ip', ['netns', 'exec', wan.cloud.name, 'tc', 'qdisc', 'show', 'dev', 'eth0'], { timeout: IP_TIMEOUT_MS });
  return `${hub.stdout.trim()}\n${cloud.stdout.trim()}`;
}

export interface SmallDisk {
  readonly path: string;
  /** Writes a filler file until the filesystem refuses with ENOSPC; returns the bytes it took. */
  fill(): Promise<number>;
  /** Unmounts and removes the mount point. Idempotent. */
  remove(): Promise<void>;
}

/** Mounts a tmpfs of `bytes` on a fresh directory (mode 0700, as EdgePier wants its cache). */
export async function mountSmallDisk(bytes: number): Promise<SmallDisk> {
  const dir = await makeTempDir('small-disk');
  await run('mount', ['-t', 'tmpfs', '-o', `size=${Math.ceil(bytes / 4096) * 4096},mode=0700`, 'tmpfs', dir.path], { timeout: IP_TIMEOUT_MS });
  let removed: Promise<void> | undefined;
  return {
    path: dir.path,
    async fill() {
      const file = await open(join(dir.path, 'filler'), 'w');
      const block = Buffer.alloc(FILL_BLOCK_BYTES, 1);
      let written = 0;
      try {
        // Bounded by the mount's own size: a tmpfs cannot take more than it was given.
        for (let n = 0; n <= Math.ceil(bytes / FILL_BLOCK_BYTES) + 1; n += 1) written += (await file.write(block)).bytesWritten;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOSPC') return written;
        throw error;
      } finally {
        await file.close();
      }
      throw new Error(`${dir.path}: wrote ${written} bytes to a ${bytes}-byte tmpfs without ENOSPC`);
    },
    remove() {
      removed ??= (async () => {
        await run('umount', [dir.path], { timeout: IP_TIMEOUT_MS });
        await dir.remove();
      })();
      return removed;
    },
  };
}
