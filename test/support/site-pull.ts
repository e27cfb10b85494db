// skopeo as the real pulling client inside a site namespace: `skopeo copy docker://HOST/REF
// dir:DEST` run with `ip netns exec`, timed, then every file it wrote checked against the
// image that was pushed (byte for byte, or by sha256 for big images).
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCommand } from './run-command.js';
import { sha256Digest } from './sha256.js';

export interface SitePull {
  readonly namespace: string;
  readonly dir: string;
  /** Start of skopeo to its exit. */
  readonly ms: number;
  /** When skopeo exited (performance.now()). */
  readonly endedAt: number;
}

/** What the pulled `dir:` layout must hold: the top manifest plus every blob, by digest. */
export interface ExpectedImage {
  readonly topDigest: string;
  /** Every manifest and blob, by digest. */
  readonly contents: ReadonlyMap<string, Buffer>;
  /** The blobs (config and layers) the pull must deliver, by digest. */
  readonly blobs: ReadonlyMap<string, Buffer>;
}

export async function skopeoPullIn(namespace: string, registryHost: string, reference: string, dir: string, timeoutMs = 120_000): Promise<SitePull> {
  const started = performance.now();
  await runCommand(
    'ip',
    [
      'netns', 'exec', namespace, 'skopeo', '--insecure-policy', 'copy', '--quiet', '--preserve-digests',
      '--retry-times', '0', '--src-tls-verify=false', '--src-no-creds',
      `docker://${registryHost}/${reference}`, `dir:${dir}`,
    ],
    { timeoutMs },
  );
  const endedAt = performance.now();
  return { namespace, dir, ms: endedAt - started, endedAt };
}

/**
 * Checks a pulled `dir:` layout: the top manifest has the pushed digest and bytes, and the set
 * of blob files is exactly the image's blobs. `mode: 'bytes'` compares contents byte for
 * byte; `mode: 'sha256'` streams each file through sha256 (for images too big to compare in
 * memory). Throws with the first difference.
 */
export async function verifyPulledDir(dir: string, image: ExpectedImage, mode: 'bytes' | 'sha256' = 'bytes'): Promise<void> {
  const top = await readFile(join(dir, 'manifest.json'));
  const topDigest = sha256Digest(top);
  if (topDigest !== image.topDigest) throw new Error(`${dir}: manifest.json is ${topDigest}, pushed ${image.topDigest}`);
  const expected = image.contents.get(image.topDigest);
  if (!expected?.equals(top)) throw new Error(`${dir}: manifest.json differs from the pushed manifest`);
  const found = new Set<string>();
  for (const name of await readdir(dir)) {
    if (!/^[0-9a-f]{64}$/.test(name)) continue;
    const digest = `sha256:${name}`;
    found.add(digest);
    const want = image.blobs.get(digest);
    if (!want) throw new Error(`${dir}: unexpected blob ${digest}`);
    const path = join(dir, name);
    if (mode === 'bytes') {
      if (!(await readFile(path)).equals(want)) throw new Error(`${dir}: blob ${digest} differs from the pushed bytes`);
    } else {
      const hash = createHash('sha256');
      let size = 0;
      for await (const chunk of createReadStream(path, { highWaterMark: 1024 * 1024 })) {
        hash.update(chunk as Buffer);
        size += (chunk as Buffer).length;
      }
      const actual = `sha256:${hash.digest('hex')}`;
      if (actual !== digest || size !== want.length) throw new Error(`${dir}: blob ${digest} hashes to ${actual} (${size} bytes)`);
    }
  }
  for (const digest of image.blobs.keys()) if (!found.has(digest)) throw new Error(`${dir}: blob ${digest} missing`);
}

/** What a pull of a pushed single-platform test image must deliver. */
export function expectedImage(image: {
  readonly topDigest: string;
  readonly manifests: ReadonlyMap<string, Buffer>;
  readonly blobs: ReadonlyMap<string, Buffer>;
}): ExpectedImage {
  return { topDigest: image.topDigest, contents: new Map([...image.manifests, ...image.blobs]), blobs: image.blobs };
}
