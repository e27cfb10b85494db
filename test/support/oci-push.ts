// Pushes blobs and manifests with plain HTTP, the way an OCI client that attaches artifacts
// (signatures, SBOMs) to an image does: monolithic blob upload (POST then PUT ?digest=), then
// PUT of the manifest by tag or by digest. Enough for distribution 2.8 without auth.
import { OCI_EMPTY_TYPE, OCI_INDEX_TYPE, OCI_MANIFEST_TYPE } from './oci-media-types.js';
import { sha256Digest } from './sha256.js';

export interface PushedDescriptor {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
  readonly artifactType?: string;
  readonly annotations?: Readonly<Record<string, string>>;
}

export async function pushBlob(registryUrl: string, repository: string, bytes: Buffer): Promise<string> {
  const digest = sha256Digest(bytes);
  const start = await fetch(`${registryUrl}/v2/${repository}/blobs/uploads/`, { method: 'POST', signal: AbortSignal.timeout(10_000) });
  await start.arrayBuffer();
  const location = start.headers.get('location');
  if (start.status !== 202 || !location) throw new Error(`blob upload start: ${start.status}`);
  const url = new URL(location, registryUrl);
  url.searchParams.set('digest', digest);
  const put = await fetch(url, {
    method: 'PUT',
    headers: { 'content-type': 'application/octet-stream', 'content-length': String(bytes.length) },
    body: new Uint8Array(bytes),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await put.text();
  if (put.status !== 201) throw new Error(`blob upload ${digest}: ${put.status} ${text}`);
  return digest;
}

/** PUTs manifest bytes under `reference` (a tag or the digest) and returns their digest. */
export async function pushManifest(registryUrl: string, repository: string, reference: string, body: Buffer, mediaType: string): Promise<string> {
  const response = await fetch(`${registryUrl}/v2/${repository}/manifests/${reference}`, {
    method: 'PUT',
    headers: { 'content-type': mediaType },
    body: new Uint8Array(body),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await response.text();
  if (response.status !== 201) throw new Error(`manifest PUT ${repository}:${reference}: ${response.status} ${text}`);
  return sha256Digest(body);
}

export interface Artifact {
  readonly manifest: Buffer;
  readonly descriptor: PushedDescriptor;
  /** The artifact's one layer (the signature or SBOM bytes). */
  readonly layer: Buffer;
  readonly layerDigest: string;
}

/**
 * Pushes an OCI 1.1 artifact manifest (empty config, one layer of `content`) whose `subject`
 * is `subject`, by digest, as cosign and notation do. Returns its descriptor for a referrers index.
 */
export async function pushArtifact(
  registryUrl: string,
  repository: string,
  subject: PushedDescriptor,
  artifactType: string,
  content: Buffer,
  layerMediaType: string,
): Promise<Artifact> {
  const empty = Buffer.from('{}');
  const emptyDigest = await pushBlob(registryUrl, repository, empty);
  const layerDigest = await pushBlob(registryUrl, repository, content);
  const annotations = { 'org.opencontainers.image.created': '2026-12-01T00:00:00Z' };
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST_TYPE,
      artifactType,
      config: { mediaType: OCI_EMPTY_TYPE, digest: emptyDigest, size: empty.length },
      layers: [{ mediaType: layerMediaType, digest: layerDigest, size: content.length }],
      subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
      annotations,
    }),
  );
  const digest = sha256Digest(manifest);
  await pushManifest(registryUrl, repository, digest, manifest, OCI_MANIFEST_TYPE);
  return { manifest, layer: content, layerDigest, descriptor: { mediaType: OCI_MANIFEST_TYPE, digest, size: manifest.length, artifactType, annotations } };
}

/**
 * What a client does on a registry without the referrers API: keeps an index of the
 * subject's referrers under the tag `sha256-<hex>` (the referrers tag schema).
 */
export async function pushReferrersTag(registryUrl: string, repository: string, subjectDigest: string, referrers: readonly PushedDescriptor[]): Promise<string> {
  const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX_TYPE, manifests: referrers }));
  return pushManifest(registryUrl, repository, subjectDigest.replace(':', '-'), index, OCI_INDEX_TYPE);
}
