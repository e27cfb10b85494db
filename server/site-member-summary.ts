import type { BlobStore } from '../cache/blob-store.js';
import type { InflightDownload } from '../mirror/mirror-results.js';
import { parseDigest } from '../oci/digest.js';
import { MAX_MANIFEST_BYTES } from '../oci/media-types.js';
import { isDigestText, SUMMARY_LIMITS, type MemberSummary, type SummaryImage, type SummaryLayer, type SummaryPrefetch } from '../peer/site-summary.js';
import type { MetricsSnapshot } from './metrics.js';
import type { StatusBoard } from './status-board.js';

export interface MemberSummarySources {
  readonly board: StatusBoard;
  readonly metrics: () => MetricsSnapshot;
  readonly downloads: () => InflightDownload[];
  /** Where manifests are read from (they are cached by digest like blobs) and holdings checked. */
  readonly store: BlobStore;
  readonly prefetches: () => SummaryPrefetch[];
}

/** What a manifest says, once read: its layers, or the platform manifests an index lists. */
type ManifestFacts = { readonly layers: SummaryLayer[] } | { readonly children: string[] };

const MANIFEST_MEMO = 64;

/**
 * This node's summary for the site view, answered to members over the peer API. Built from
 * what the node already keeps (the status board, the running downloads, its own store), all
 * of it bounded by SUMMARY_LIMITS so the answer stays small however busy the node is.
 */
export class MemberSummaryBuilder {
  /** Manifests are immutable, so what one says is read from disk once. */
  private readonly memo = new Map<string, ManifestFacts | null>();

  constructor(private readonly sources: MemberSummarySources) {}

  async build(holds: readonly string[]): Promise<MemberSummary> {
    const snapshot = await this.sources.board.snapshot();
    const held: string[] = [];
    for (const digest of holds.slice(0, SUMMARY_LIMITS.holdsQuery)) {
      if (isDigestText(digest) && (await this.sources.store.stat(parseDigest(digest)))) held.push(digest);
    }
    return {
      id: snapshot.node.id,
      uptimeSeconds: snapshot.node.uptimeSeconds,
      cache: { usedBytes: snapshot.cache.usedBytes, blobs: snapshot.cache.blobs },
      servedBytes: { ...snapshot.totals.bytes },
      wanBytes: this.sources.metrics().upstreamBytes,
      downloads: this.sources.downloads().slice(0, SUMMARY_LIMITS.downloads),
      images: await this.images(),
      prefetches: this.sources.prefetches().slice(0, SUMMARY_LIMITS.prefetches),
      holds: held,
    };
  }

  /**
   * The images behind the manifests local clients pulled lately: every manifest that lists
   * layers, named by the tag of the index that led to it where there was one.
   */
  private async images(): Promise<SummaryImage[]> {
    const recent = this.sources.board.recentManifests();
    const names = new Map<string, string>();
    const images: SummaryImage[] = [];
    for (const manifest of recent) {
      const facts = await this.facts(manifest.digest);
      const asked = manifest.reference.includes(':') ? `${manifest.repository}@${manifest.reference}` : `${manifest.repository}:${manifest.reference}`;
      if (facts && 'children' in facts) {
        for (const child of facts.children) if (!names.has(child)) names.set(child, asked);
      }
    }
    for (const manifest of recent) {
      if (images.length >= SUMMARY_LIMITS.images) break;
      const facts = await this.facts(manifest.digest);
      if (!facts || !('layers' in facts)) continue;
      const asked = manifest.reference.includes(':') ? `${manifest.repository}@${manifest.reference}` : `${manifest.repository}:${manifest.reference}`;
      images.push({ name: names.get(manifest.digest) ?? asked, digest: manifest.digest, layers: facts.layers });
    }
    return images;
  }

  private async facts(digest: string): Promise<ManifestFacts | null> {
    const known = this.memo.get(digest);
    if (known !== undefined) return known;
    const facts = await this.readManifest(digest).catch(() => null);
    // A manifest not (yet) on disk is asked again next time; one that is never changes.
    if (facts !== null) {
      this.memo.set(digest, facts);
      for (const oldest of this.memo.keys()) {
        if (this.memo.size <= MANIFEST_MEMO) break;
        this.memo.delete(oldest);
      }
    }
    return facts;
  }

  private async readManifest(text: string): Promise<ManifestFacts | null> {
    const digest = parseDigest(text);
    const stored = await this.sources.store.stat(digest);
    if (!stored || stored.size > MAX_MANIFEST_BYTES) return null;
    const chunks: Buffer[] = [];
    for await (const chunk of await this.sources.store.createReadStream(digest)) chunks.push(chunk as Buffer);
    const parsed = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { layers?: unknown; manifests?: unknown; config?: unknown };
    if (Array.isArray(parsed.layers)) {
      const layers = [parsed.config, ...(parsed.layers as unknown[])].flatMap((entry) => {
        const { digest: layer, size } = (entry ?? {}) as { digest?: unknown; size?: unknown };
        return isDigestText(layer) && typeof size === 'number' && Number.isSafeInteger(size) && size >= 0 ? [{ digest: layer, size }] : [];
      });
      return { layers: layers.slice(0, SUMMARY_LIMITS.layersPerImage) };
    }
    if (Array.isArray(parsed.manifests)) {
      return { children: (parsed.manifests as unknown[]).flatMap((entry) => (isDigestText((entry as { digest?: unknown } | null)?.digest) ? [(entry as { digest: string }).digest] : [])) };
    }
    return null;
  }
}
