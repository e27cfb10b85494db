import { readFile, stat, statfs } from 'node:fs/promises';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import cacache from 'cacache';
import { PinFile } from './pins.js';
import { UsageJournal } from './usage-journal.js';

/** One cached blob as `edgepier cache ls` shows it. */
export interface CachedBlobInfo {
  readonly digest: string;
  readonly size: number;
  readonly mediaType?: string;
  /** Epoch ms: the journal's last use, else the time it was cached. */
  readonly lastUsed: number;
  readonly pinned: boolean;
  /** `registry/repo:tag` of every tag whose image reaches this blob, and `pin:<image>`. */
  readonly references: readonly string[];
}

export interface CacheInventory {
  readonly blobs: readonly CachedBlobInfo[];
  readonly tags: number;
  readonly pins: number;
  readonly spools: { readonly files: number; readonly bytes: number };
  readonly disk: { readonly totalBytes: number; readonly freeBytes: number };
}

/** Bounds a walk through a corrupt or hostile manifest graph. */
const MAX_GRAPH_NODES = 100_000;

/**
 * Reads a cache directory as the node left it (index, tag records, pins, usage journal),
 * without changing anything: the view behind `cache ls` and `cache stats`.
 */
export async function inspectCache(cacheDir: string): Promise<CacheInventory> {
  const entries = await cacache.ls(cacheDir);
  const journal = await UsageJournal.read(cacheDir);
  const pins = await new PinFile(cacheDir).list();
  const manifestPaths = new Map<string, string>();
  const blobs = new Map<string, { size: number; mediaType?: string; time: number }>();
  const tags: Array<{ label: string; key: string }> = [];
  for (const [key, entry] of Object.entries(entries)) {
    if (key.startsWith('blob:')) {
      const digest = key.slice('blob:'.length);
      const mediaType = (entry.metadata as { mediaType?: unknown } | undefined)?.mediaType;
      blobs.set(digest, { size: entry.size, time: entry.time, ...(typeof mediaType === 'string' ? { mediaType } : {}) });
      if (typeof mediaType === 'string') manifestPaths.set(digest, entry.path);
    } else if (key.startsWith('tag:')) {
      tags.push({ label: key.slice('tag:'.length), key });
    }
  }
  const references = new Map<string, Set<string>>();
  const graph = new ManifestGraph(manifestPaths);
  for (const tag of tags) {
    const record = await cacache
      .get(cacheDir, tag.key)
      .then(({ data }) => JSON.parse(data.toString('utf8')) as { digest?: unknown })
      .catch(() => undefined);
    if (typeof record?.digest !== 'string') continue;
    for (const digest of await graph.reachable(record.digest)) addReference(references, digest, tag.label);
  }
  const pinned = new Set<string>();
  for (const pin of pins) {
    for (const digest of pin.digests) {
      pinned.add(digest);
      addReference(references, digest, `pin:${pin.image}`);
    }
  }
  const list: CachedBlobInfo[] = [...blobs].map(([digest, blob]) => ({
    digest,
    size: blob.size,
    ...(blob.mediaType ? { mediaType: blob.mediaType } : {}),
    lastUsed: journal.get(digest)?.lastUsed ?? blob.time,
    pinned: pinned.has(digest),
    references: [...(references.get(digest) ?? [])].sort(),
  }));
  list.sort((a, b) => b.lastUsed - a.lastUsed);
  const disk = await statfs(cacheDir);
  return {
    blobs: list,
    tags: tags.length,
    pins: pins.length,
    spools: await spoolUsage(cacheDir),
    disk: { totalBytes: disk.blocks * disk.bsize, freeBytes: disk.bavail * disk.bsize },
  };
}

function addReference(references: Map<string, Set<string>>, digest: string, label: string): void {
  const set = references.get(digest) ?? new Set<string>();
  set.add(label);
  references.set(digest, set);
}

/** Follows index → manifests → config and layers through the manifests in the cache. */
class ManifestGraph {
  private readonly children = new Map<string, string[]>();

  constructor(private readonly manifestPaths: ReadonlyMap<string, string>) {}

  async reachable(root: string): Promise<string[]> {
    const seen = new Set<string>();
    const queue = [root];
    while (queue.length > 0 && seen.size < MAX_GRAPH_NODES) {
      const digest = queue.shift();
      if (digest === undefined || seen.has(digest)) continue;
      seen.add(digest);
      queue.push(...(await this.childrenOf(digest)));
    }
    return [...seen];
  }

  private async childrenOf(digest: string): Promise<string[]> {
    const known = this.children.get(digest);
    if (known) return known;
    const path = this.manifestPaths.get(digest);
    const found = path ? referencedDigests(await readFile(path, 'utf8').catch(() => '')) : [];
    this.children.set(digest, found);
    return found;
  }
}

/** The digests an OCI/Docker manifest or index names: manifests, config, layers. */
export function referencedDigests(text: string): string[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return [];
  }
  if (typeof parsed !== 'object' || parsed === null) return [];
  const record = parsed as Record<string, unknown>;
  const descriptors: unknown[] = [
    ...(Array.isArray(record.manifests) ? (record.manifests as unknown[]) : []),
    ...(record.config ? [record.config] : []),
    ...(Array.isArray(record.layers) ? (record.layers as unknown[]) : []),
  ];
  return descriptors.flatMap((descriptor) => {
    const digest = (descriptor as { digest?: unknown } | null)?.digest;
    return typeof digest === 'string' ? [digest] : [];
  });
}

async function spoolUsage(cacheDir: string): Promise<{ files: number; bytes: number }> {
  const tmp = join(cacheDir, 'tmp');
  let files = 0;
  let bytes = 0;
  for (const name of await readdir(tmp).catch(() => [] as string[])) {
    const info = await stat(join(tmp, name)).catch(() => undefined);
    if (!info?.isFile()) continue;
    files += 1;
    bytes += info.size;
  }
  return { files, bytes };
}
