/**
 * What one member tells another about itself for the site view (`edgepier status --site`,
 * the `/site` page): small, bounded, and only ever sent to proven members (a keyed site).
 * An open site's peer port is reachable by anyone on the LAN, so there the summary is
 * refused: the images a node pulls, the digests it holds and what it is fetching name
 * private repositories and credentialed content, which mDNS never reveals.
 */
export const SITE_SUMMARY_PATH = '/edgepier/site/summary';
/** The peer API request that asks a member to prefetch an image (members only). */
export const SITE_PREFETCH_PATH = '/edgepier/site/prefetch';

/** Bounds on what a summary may hold, checked by the sender and again by the reader. */
export const SUMMARY_LIMITS = {
  /** Digests a gatherer may ask a member about in one request (they fit a 16 KiB request head). */
  holdsQuery: 128,
  downloads: 32,
  images: 8,
  layersPerImage: 128,
  prefetches: 8,
  /** The whole JSON answer. */
  bytes: 256 * 1024,
} as const;

export interface SummaryLayer {
  readonly digest: string;
  readonly size: number;
}

/** An image this member's runtimes pulled recently: its platform manifest and layers. */
export interface SummaryImage {
  /** `repository:tag` or `repository@digest`, as it was asked. */
  readonly name: string;
  /** The manifest that lists the layers. */
  readonly digest: string;
  readonly layers: readonly SummaryLayer[];
}

export interface SummaryDownload {
  readonly digest: string;
  readonly receivedBytes: number;
  /** null until the source has said how large the blob is. */
  readonly sizeBytes: number | null;
  /** `upstream`, `peer <id>`, ... */
  readonly from: string;
}

/** A site prefetch this member was asked to run. */
export interface SummaryPrefetch {
  readonly image: string;
  readonly state: 'running' | 'done' | 'failed';
  readonly blobs: number;
  readonly blobsDone: number;
  readonly bytes: number;
  readonly bytesDone: number;
  readonly error?: string;
  readonly pinned: boolean;
}

export interface MemberSummary {
  readonly id: string;
  readonly uptimeSeconds: number;
  readonly cache: { readonly usedBytes: number; readonly blobs: number };
  /** Bytes served to clients since start, by where they came from. */
  readonly servedBytes: { readonly cache: number; readonly inflight: number; readonly peer: number; readonly upstream: number };
  /** Bytes received from upstream registries since start: this member's WAN bytes. */
  readonly wanBytes: number;
  readonly downloads: readonly SummaryDownload[];
  readonly images: readonly SummaryImage[];
  readonly prefetches: readonly SummaryPrefetch[];
  /** Of the digests asked about (`?holds=`), the ones this member holds committed. */
  readonly holds: readonly string[];
}

const DIGEST = /^sha(256:[0-9a-f]{64}|512:[0-9a-f]{128})$/;
const MAX_TEXT = 256;

export function isDigestText(value: unknown): value is string {
  return typeof value === 'string' && DIGEST.test(value);
}

/**
 * A member's answer taken apart field by field: a member is trusted with the key, not with
 * well-formed JSON, and the page renders what it says. Anything of the wrong shape is
 * dropped, lists are cut at their limits, texts at 256 characters.
 */
export function parseMemberSummary(value: unknown, expectedId: string): MemberSummary {
  const record = asRecord(value);
  const cache = asRecord(record.cache);
  const served = asRecord(record.servedBytes);
  return {
    id: expectedId,
    uptimeSeconds: count(record.uptimeSeconds),
    cache: { usedBytes: count(cache.usedBytes), blobs: count(cache.blobs) },
    servedBytes: { cache: count(served.cache), inflight: count(served.inflight), peer: count(served.peer), upstream: count(served.upstream) },
    wanBytes: count(record.wanBytes),
    downloads: list(record.downloads, SUMMARY_LIMITS.downloads, (entry) => {
      const download = asRecord(entry);
      if (!isDigestText(download.digest)) return undefined;
      const size = download.sizeBytes === null ? null : count(download.sizeBytes);
      return { digest: download.digest, receivedBytes: count(download.receivedBytes), sizeBytes: size, from: text(download.from) };
    }),
    images: list(record.images, SUMMARY_LIMITS.images, (entry) => {
      const image = asRecord(entry);
      if (!isDigestText(image.digest)) return undefined;
      const layers = list(image.layers, SUMMARY_LIMITS.layersPerImage, (layer) => {
        const descriptor = asRecord(layer);
        return isDigestText(descriptor.digest) ? { digest: descriptor.digest, size: count(descriptor.size) } : undefined;
      });
      return { name: text(image.name), digest: image.digest, layers };
    }),
    prefetches: list(record.prefetches, SUMMARY_LIMITS.prefetches, (entry) => {
      const job = asRecord(entry);
      const state = job.state === 'running' || job.state === 'done' || job.state === 'failed' ? job.state : undefined;
      if (state === undefined) return undefined;
      return {
        image: text(job.image),
        state,
        blobs: count(job.blobs),
        blobsDone: count(job.blobsDone),
        bytes: count(job.bytes),
        bytesDone: count(job.bytesDone),
        pinned: job.pinned === true,
        ...(typeof job.error === 'string' ? { error: text(job.error) } : {}),
      };
    }),
    holds: list(record.holds, SUMMARY_LIMITS.holdsQuery, (entry) => (isDigestText(entry) ? entry : undefined)),
  };
}

function asRecord(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

function count(value: unknown): number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 ? value : 0;
}

function text(value: unknown): string {
  return typeof value === 'string' ? value.slice(0, MAX_TEXT) : '';
}

function list<T>(value: unknown, limit: number, parse: (entry: unknown) => T | undefined): T[] {
  if (!Array.isArray(value)) return [];
  const parsed: T[] = [];
  for (const entry of value.slice(0, limit)) {
    const item = parse(entry);
    if (item !== undefined) parsed.push(item);
  }
  return parsed;
}
