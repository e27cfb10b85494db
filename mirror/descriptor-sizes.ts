import { isDigestString } from '../oci/digest.js';

/** Enough for every layer of a few thousand images; each entry is a digest and a number. */
const DEFAULT_MAX_ENTRIES = 50_000;
/** Manifests already read: a cached manifest served again is not parsed again. */
const MAX_MANIFESTS_SEEN = 10_000;

/**
 * The sizes manifests declare for what they reference (`config`, `layers`, `manifests`,
 * `blobs`, `subject`), learnt as manifests pass through the mirror. A runtime always reads
 * the manifest before its layers, so a download nearly always knows its size before the
 * first byte: a source whose Content-Length says otherwise is refused before it is read, and
 * one that keeps sending is cut at the declared size. A manifest fetched by digest is
 * verified, so its sizes are as trustworthy as its content; one by tag at worst makes a
 * download fail, which the digest check would have done anyway.
 * Bounded (least recently learnt or asked for goes first), so memory stays flat.
 */
export class DescriptorSizes {
  private readonly sizes = new Map<string, number>();
  private readonly seen = new Set<string>();

  constructor(private readonly maxEntries = DEFAULT_MAX_ENTRIES) {}

  get entries(): number {
    return this.sizes.size;
  }

  /** Reads the descriptors of a manifest body (any JSON: what is not a descriptor is ignored). */
  learn(manifestDigest: string, body: Buffer): void {
    if (this.seen.has(manifestDigest)) return;
    this.remember(this.seen, manifestDigest, MAX_MANIFESTS_SEEN);
    let parsed: unknown;
    try {
      parsed = JSON.parse(body.toString('utf8'));
    } catch {
      return;
    }
    if (!isObject(parsed)) return;
    for (const key of ['config', 'subject'] as const) this.learnDescriptor(parsed[key]);
    for (const key of ['layers', 'manifests', 'blobs'] as const) {
      const list = parsed[key];
      if (Array.isArray(list)) for (const descriptor of list) this.learnDescriptor(descriptor);
    }
  }

  /** The size a manifest declared for `digest`, if one passed through. */
  sizeOf(digest: string): number | undefined {
    const size = this.sizes.get(digest);
    if (size === undefined) return undefined;
    // Asked for: keep it among the most recent.
    this.sizes.delete(digest);
    this.sizes.set(digest, size);
    return size;
  }

  private learnDescriptor(descriptor: unknown): void {
    if (!isObject(descriptor)) return;
    const { digest, size } = descriptor;
    if (typeof digest !== 'string' || !isDigestString(digest)) return;
    if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) return;
    this.sizes.delete(digest);
    this.sizes.set(digest, size);
    if (this.sizes.size > this.maxEntries) {
      const oldest = this.sizes.keys().next().value;
      if (oldest !== undefined) this.sizes.delete(oldest);
    }
  }

  private remember(set: Set<string>, value: string, max: number): void {
    set.add(value);
    if (set.size > max) {
      const oldest = set.values().next().value;
      if (oldest !== undefined) set.delete(oldest);
    }
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
