import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import cacache from 'cacache';
import { parseDigest } from '../oci/digest.js';
import { CacacheBlobStore } from './cacache-blob-store.js';
import { DigestVerifier } from './digest-verifier.js';

export interface VerifyProblem {
  readonly digest: string;
  readonly problem: 'missing' | 'size' | 'hash';
}

export interface VerifyReport {
  readonly checked: number;
  readonly bytes: number;
  /** Every one of these was removed: the next request for it fetches it again. */
  readonly removed: readonly VerifyProblem[];
}

/**
 * Re-hashes every cached blob against its digest and removes what does not match (or is
 * missing, or has the wrong size). Safe while a node runs on the directory: the node
 * notices a removed blob the next time it looks it up, and fetches it again.
 */
export async function verifyCache(cacheDir: string, onBlob?: (digest: string, done: number, total: number) => void): Promise<VerifyReport> {
  const store = new CacacheBlobStore(cacheDir);
  const entries = Object.entries(await cacache.ls(cacheDir)).filter(([key]) => key.startsWith('blob:'));
  const removed: VerifyProblem[] = [];
  let bytes = 0;
  let done = 0;
  for (const [key, entry] of entries) {
    const digest = parseDigest(key.slice('blob:'.length));
    const problem = await check(entry.path, entry.size, digest);
    bytes += entry.size;
    done += 1;
    onBlob?.(digest.value, done, entries.length);
    if (!problem) continue;
    await store.remove(digest);
    removed.push({ digest: digest.value, problem });
  }
  return { checked: entries.length, bytes, removed };
}

async function check(path: string, size: number, digest: ReturnType<typeof parseDigest>): Promise<VerifyProblem['problem'] | undefined> {
  const info = await stat(path).catch(() => undefined);
  if (!info) return 'missing';
  if (info.size !== size) return 'size';
  const verifier = new DigestVerifier(digest);
  try {
    for await (const chunk of createReadStream(path, { highWaterMark: 1024 * 1024 })) verifier.update(chunk as Buffer);
    verifier.verify();
  } catch {
    return 'hash';
  }
  return undefined;
}
