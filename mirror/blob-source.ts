import type { UpstreamBlob } from '../upstream/registry-client.js';

export type BlobSourceKind = 'upstream' | 'peer';

/**
 * Somewhere a blob's bytes can come from. `open(offset)` resumes from `offset` when it can
 * (Range); a source that cannot returns `offset: 0` and the download skips what it has.
 */
export interface BlobSource {
  readonly kind: BlobSourceKind;
  /** For logs and the X-EdgePier-Source header: `upstream` or `peer:<id>`. */
  readonly name: string;
  open(offset: number, signal: AbortSignal): Promise<UpstreamBlob>;
  /** Called when this source's bytes failed verification: it lied, or is corrupt. */
  reportCorrupt?(): void;
}
