import type { Digest } from './digest.js';

export const IMAGE_INDEX_MEDIA_TYPE = 'application/vnd.oci.image.index.v1+json';

/** The body of a referrers answer: an OCI image index listing the referring manifests. */
export interface ReferrersIndex {
  readonly schemaVersion: 2;
  readonly mediaType: typeof IMAGE_INDEX_MEDIA_TYPE;
  readonly manifests: readonly unknown[];
}

export function referrersIndex(manifests: readonly unknown[]): ReferrersIndex {
  return { schemaVersion: 2, mediaType: IMAGE_INDEX_MEDIA_TYPE, manifests };
}

/**
 * The referrers tag schema (distribution spec, "Referrers Tag Schema"): `<alg>-<ref>`, the
 * encoded digest cut to 64 characters so a sha512 subject still makes a valid tag.
 */
export function referrersTag(subject: Digest): string {
  return `${subject.algorithm}-${subject.hex.slice(0, 64)}`;
}
