import type { Readable } from 'node:stream';
import type { ByteRange } from '../oci/byte-range.js';
import type { BlobReadOptions } from '../cache/blob-store.js';

/** Where a response's bytes came from; also the X-EdgePier-Source header. */
export type ContentSource = 'cache' | 'inflight' | 'peer' | 'upstream';

export interface BlobHandle {
  readonly digest: string;
  readonly size: number;
  readonly source: ContentSource;
  /** Opens the bytes (a range of them): from the cache file, or following a download. */
  open(range?: ByteRange, options?: BlobReadOptions): Promise<Readable>;
}

/** A blob answer in redirect mode: send the client to a peer instead of serving. */
export interface BlobRedirect {
  readonly redirect: string;
}

export interface ManifestResult {
  readonly digest: string;
  readonly mediaType: string;
  readonly size: number;
  /** Absent when only HEAD was asked and the bytes were not needed. */
  readonly body?: Buffer;
  readonly source: ContentSource;
  /** True when upstream could not be asked and the last known tag mapping was used. */
  readonly stale?: boolean;
  /** For tags: when upstream last confirmed the mapping (epoch ms). */
  readonly resolvedAt?: number;
  /** For a stale tag a site member resolved: that member's id. */
  readonly answeredBy?: string;
}

/** One running download as the site view shows it. */
export interface InflightDownload {
  readonly digest: string;
  readonly receivedBytes: number;
  /** null until a source has announced the size. */
  readonly sizeBytes: number | null;
  /** `upstream` or `peer <id>`: where the bytes are coming from now. */
  readonly from: string;
}
