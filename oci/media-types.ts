/** Manifest media types a mirror must be able to relay, newest first. */
export const MANIFEST_MEDIA_TYPES = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v2+json',
] as const;

/** What we ask upstream for: every type, so one cached copy serves every client. */
export const UPSTREAM_MANIFEST_ACCEPT = MANIFEST_MEDIA_TYPES.join(', ');

export const BLOB_MEDIA_TYPE = 'application/octet-stream';

/** distribution's own limit: manifests are small JSON documents, never streamed. */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

/** The media type a manifest declares in its own `mediaType` field, if it parses. */
export function declaredMediaType(bytes: Buffer): string | undefined {
  try {
    const parsed: unknown = JSON.parse(bytes.toString('utf8'));
    if (typeof parsed === 'object' && parsed !== null && 'mediaType' in parsed && typeof parsed.mediaType === 'string') {
      return parsed.mediaType;
    }
  } catch {
    // Not JSON: the caller falls back to the Content-Type it was given.
  }
  return undefined;
}
