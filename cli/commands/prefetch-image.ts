import { createHash } from 'node:crypto';
import type { Pin, PinFile } from '../../cache/pins.js';
import { referencedDigests } from '../../cache/cache-inspector.js';
import { MANIFEST_MEDIA_TYPES, MAX_MANIFEST_BYTES } from '../../oci/media-types.js';
import { SOURCE_HEADER } from '../../server/headers.js';
import { formatImageReference, type ImageReference } from './image-reference.js';
import type { ProgressReporter } from './progress-reporter.js';
import { fetchFromNode } from './node-fetch.js';

/** What prefetch reports as it goes: a terminal's bar, or a site prefetch job's counters. */
export type PrefetchProgress = Pick<ProgressReporter, 'start' | 'advance' | 'blobDone' | 'finish'>;

/** `os/arch[/variant]`, as docker's --platform. */
export interface Platform {
  readonly os: string;
  readonly architecture: string;
  readonly variant?: string;
}

export interface PrefetchOptions {
  readonly image: ImageReference;
  /** The running local node, e.g. http://127.0.0.1:5000: pulls go through it, peers and all. */
  readonly mirror: string;
  readonly platform?: Platform;
  /** Set with --pin: the image's digests are pinned before its blobs are fetched. */
  readonly pins?: PinFile;
  readonly progress: PrefetchProgress;
  /** Blobs fetched at once (docker pulls three layers at a time). */
  readonly concurrency?: number;
  /** A blob download that receives nothing for this long is given up. */
  readonly idleTimeoutMs?: number;
}

export interface PrefetchResult {
  readonly digest: string;
  /** Index, manifests, configs and layers: everything the image needs. */
  readonly digests: readonly string[];
  readonly blobs: number;
  readonly bytes: number;
  /** Blobs the node already had. */
  readonly cached: number;
}

interface Descriptor {
  readonly digest: string;
  readonly size: number;
}

/**
 * Pulls an image through the local node so that it lands in the node's cache: the manifest
 * (so the tag mapping is recorded), the platform manifests, then every config and layer,
 * each checked against its digest here too. The node does the caching; this only reads.
 */
export async function prefetchImage(options: PrefetchOptions): Promise<PrefetchResult> {
  const image = options.image;
  const reference = image.reference.kind === 'tag' ? image.reference.tag : image.reference.digest;
  const top = await fetchManifest(options, reference);
  if (image.reference.kind === 'digest' && top.digest !== image.reference.digest) {
    throw new Error(`the mirror answered ${top.digest} for ${image.reference.digest}`);
  }
  const digests = new Set<string>([top.digest]);
  const manifests: Array<{ digest: string; body: string }> = [];
  const index = parseJson(top.body);
  if (Array.isArray(index?.manifests)) {
    for (const child of selectPlatforms(index.manifests as unknown[], options.platform)) {
      const manifest = await fetchManifest(options, child.digest);
      digests.add(manifest.digest);
      manifests.push(manifest);
    }
  } else {
    manifests.push(top);
  }
  const blobs = new Map<string, Descriptor>();
  for (const manifest of manifests) {
    const parsed = parseJson(manifest.body);
    for (const descriptor of [parsed?.config, ...(Array.isArray(parsed?.layers) ? (parsed.layers as unknown[]) : [])]) {
      const found = asDescriptor(descriptor);
      if (found) blobs.set(found.digest, found);
    }
    for (const digest of referencedDigests(manifest.body)) digests.add(digest);
  }
  if (options.pins) {
    // Pinned before the layers arrive: eviction must not take what we are about to fetch.
    const pin: Pin = { image: formatImageReference(image), digest: top.digest, digests: [...digests], pinnedAt: Date.now() };
    await options.pins.add(pin);
  }
  const list = [...blobs.values()];
  options.progress.start(list.length, list.reduce((sum, blob) => sum + blob.size, 0));
  let cached = 0;
  let bytes = 0;
  const queue = [...list];
  const workers = Array.from({ length: Math.min(options.concurrency ?? 3, queue.length) }, async () => {
    for (let blob = queue.shift(); blob; blob = queue.shift()) {
      const source = await fetchBlob(options, blob);
      if (source === 'cache') cached += 1;
      bytes += blob.size;
      options.progress.blobDone(blob.digest, blob.size, source);
    }
  });
  await Promise.all(workers);
  options.progress.finish();
  return { digest: top.digest, digests: [...digests], blobs: list.length, bytes, cached };
}

function url(options: PrefetchOptions, kind: 'manifests' | 'blobs', reference: string): string {
  const base = options.mirror.replace(/\/+$/, '');
  const query = options.image.registry ? `?ns=${encodeURIComponent(options.image.registry)}` : '';
  return `${base}/v2/${options.image.repository}/${kind}/${reference}${query}`;
}

async function fetchManifest(options: PrefetchOptions, reference: string): Promise<{ digest: string; body: string }> {
  const response = await fetchFromNode(url(options, 'manifests', reference), {
    headers: { accept: MANIFEST_MEDIA_TYPES.join(', ') },
    signal: AbortSignal.timeout(options.idleTimeoutMs ?? 60_000),
  });
  const body = Buffer.from(await response.arrayBuffer());
  if (response.status !== 200) throw new Error(`manifest ${reference}: ${response.status} ${errorText(body)}`);
  if (body.length > MAX_MANIFEST_BYTES) throw new Error(`manifest ${reference} is larger than ${MAX_MANIFEST_BYTES} bytes`);
  const digest = `sha256:${createHash('sha256').update(body).digest('hex')}`;
  if (reference.includes(':') && reference !== digest) throw new Error(`manifest ${reference} does not match its digest (got ${digest})`);
  return { digest, body: body.toString('utf8') };
}

/** Streams one blob through the node, hashing it; returns where the node got it from. */
async function fetchBlob(options: PrefetchOptions, blob: Descriptor): Promise<string> {
  const controller = new AbortController();
  const idleMs = options.idleTimeoutMs ?? 60_000;
  let timer = setTimeout(() => controller.abort(new Error(`no bytes for ${idleMs} ms`)), idleMs);
  try {
    const response = await fetchFromNode(url(options, 'blobs', blob.digest), { signal: controller.signal });
    if (response.status !== 200 || !response.body) {
      throw new Error(`blob ${blob.digest}: ${response.status} ${errorText(Buffer.from(await response.arrayBuffer()))}`);
    }
    const hash = createHash('sha256');
    let received = 0;
    for await (const chunk of response.body) {
      clearTimeout(timer);
      timer = setTimeout(() => controller.abort(new Error(`no bytes for ${idleMs} ms`)), idleMs);
      hash.update(chunk);
      received += chunk.length;
      options.progress.advance(chunk.length);
    }
    const digest = `sha256:${hash.digest('hex')}`;
    if (digest !== blob.digest) throw new Error(`blob ${blob.digest}: received ${received} bytes hashing to ${digest}`);
    return response.headers.get(SOURCE_HEADER) ?? 'unknown';
  } finally {
    clearTimeout(timer);
  }
}

function selectPlatforms(manifests: unknown[], platform: Platform | undefined): Descriptor[] {
  const chosen: Descriptor[] = [];
  for (const entry of manifests) {
    const descriptor = asDescriptor(entry);
    if (!descriptor) continue;
    const declared = (entry as { platform?: { os?: unknown; architecture?: unknown; variant?: unknown } }).platform;
    if (platform) {
      if (declared?.os !== platform.os || declared.architecture !== platform.architecture) continue;
      if (platform.variant !== undefined && declared.variant !== platform.variant) continue;
    }
    chosen.push(descriptor);
  }
  if (platform && chosen.length === 0) throw new Error(`the image has no ${formatPlatform(platform)} manifest`);
  return chosen;
}

export function parsePlatform(text: string): Platform {
  const [os, architecture, variant, extra] = text.split('/');
  if (!os || !architecture || extra !== undefined || variant === '') throw new Error(`--platform ${JSON.stringify(text)}: expected os/arch[/variant], e.g. linux/arm64`);
  return { os, architecture, ...(variant ? { variant } : {}) };
}

function formatPlatform(platform: Platform): string {
  return [platform.os, platform.architecture, platform.variant].filter(Boolean).join('/');
}

function asDescriptor(value: unknown): Descriptor | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const { digest, size } = value as { digest?: unknown; size?: unknown };
  return typeof digest === 'string' && typeof size === 'number' ? { digest, size } : undefined;
}

function parseJson(text: string): Record<string, unknown> | undefined {
  try {
    const parsed: unknown = JSON.parse(text);
    return typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function errorText(body: Buffer): string {
  return body.toString('utf8').slice(0, 300);
}
