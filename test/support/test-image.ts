// Test images built offline: an OCI image layout (oci-layout, index.json, blobs/sha256/...) with
// seeded layers, pushed to a registry with skopeo, then read back from the registry so tests
// compare against what the registry really serves.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OCI_CONFIG_TYPE, OCI_INDEX_TYPE, OCI_LAYER_GZIP_TYPE, OCI_MANIFEST_TYPE } from './oci-media-types.js';
import { RegistryHttpClient, type RegistryEndpoint } from './registry-http-client.js';
import { runCommand } from './run-command.js';
import { sha256Digest } from './sha256.js';
import { buildLayer } from './tar-layer.js';

export type Platform = 'linux/amd64' | 'linux/arm64';

export interface BuildImageOptions {
  readonly layers: number;
  /** Bytes of random file content per layer (the gzipped blob is a little larger). */
  readonly layerSize: number;
  /** Same seed, same bytes, same digests. Default `edgepier`. */
  readonly seed?: string;
  /** Given: an OCI image index with one manifest per platform (distinct layers each).
   * Omitted: a single linux/amd64 manifest, no index. */
  readonly platforms?: readonly Platform[];
}

export interface Descriptor {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
}

/** What an image is made of, whether still a layout on disk or pushed to a registry. */
export interface ImageContent {
  /** Digest of the index (multi-platform) or of the manifest. */
  readonly topDigest: string;
  readonly topMediaType: string;
  /** Index and image manifests by digest. */
  readonly manifests: ReadonlyMap<string, Buffer>;
  /** Configs and layers by digest. */
  readonly blobs: ReadonlyMap<string, Buffer>;
  /** Image manifest digest per platform. */
  readonly platformManifests: ReadonlyMap<Platform, string>;
  /** Layer digests per platform, in order. */
  readonly platformLayers: ReadonlyMap<Platform, readonly string[]>;
  /** Sum of the sizes of all manifests and blobs. */
  readonly totalBytes: number;
}

export interface ImageLayout extends ImageContent {
  /** The OCI layout directory (`oci:<dir>:<refName>`). */
  readonly dir: string;
  readonly refName: string;
  /** Deletes the layout directory. */
  cleanup(): Promise<void>;
}

export interface PushedImage extends ImageContent {
  readonly repository: string;
  readonly tag: string;
  /** `HOST/repository:tag` as pushed. */
  readonly reference: string;
  /** Digest of the bytes the registry serves for the tag (verified equal to the layout's). */
  readonly topDigest: string;
}

/** Where to push: a RunningRegistry, or a proxy in front of one with its credentials. */
export interface PushTarget extends RegistryEndpoint {
  /** `127.0.0.1:PORT` */
  readonly host: string;
}

function json(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value));
}

/** Splits `repo/name:tag` (tag defaults to `latest`). */
export function parseRepositoryTag(reference: string): { repository: string; tag: string } {
  const slash = reference.lastIndexOf('/');
  const colon = reference.lastIndexOf(':');
  if (colon > slash) return { repository: reference.slice(0, colon), tag: reference.slice(colon + 1) };
  return { repository: reference, tag: 'latest' };
}

export async function buildImage(options: BuildImageOptions): Promise<ImageLayout> {
  const seed = options.seed ?? 'edgepier';
  const platforms: readonly Platform[] = options.platforms ?? ['linux/amd64'];
  if (platforms.length === 0) throw new Error('buildImage: platforms must not be empty');
  const manifests = new Map<string, Buffer>();
  const blobs = new Map<string, Buffer>();
  const platformManifests = new Map<Platform, string>();
  const platformLayers = new Map<Platform, string[]>();
  const imageDescriptors: (Descriptor & { platform: { architecture: string; os: string } })[] = [];

  for (const platform of platforms) {
    const [os = 'linux', architecture = 'amd64'] = platform.split('/');
    const layerDescriptors: Descriptor[] = [];
    const diffIds: string[] = [];
    for (let i = 0; i < options.layers; i += 1) {
      const layer = buildLayer(`${seed}/${platform}/layer-${i}`, options.layerSize, `layer-${i}.bin`);
      const digest = sha256Digest(layer.gzip);
      blobs.set(digest, layer.gzip);
      diffIds.push(sha256Digest(layer.tar));
      layerDescriptors.push({ mediaType: OCI_LAYER_GZIP_TYPE, digest, size: layer.gzip.length });
    }
    const config = json({
      architecture,
      os,
      config: { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], Labels: { 'org.edgepier.test.seed': seed } },
      rootfs: { type: 'layers', diff_ids: diffIds },
      history: diffIds.map((_, i) => ({ created: '1970-01-01T00:00:00Z', created_by: `edgepier test layer ${i}` })),
    });
    const configDigest = sha256Digest(config);
    blobs.set(configDigest, config);
    const manifest = json({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST_TYPE,
      config: { mediaType: OCI_CONFIG_TYPE, digest: configDigest, size: config.length },
      layers: layerDescriptors,
    });
    const manifestDigest = sha256Digest(manifest);
    manifests.set(manifestDigest, manifest);
    platformManifests.set(platform, manifestDigest);
    platformLayers.set(platform, layerDescriptors.map((d) => d.digest));
    imageDescriptors.push({ mediaType: OCI_MANIFEST_TYPE, digest: manifestDigest, size: manifest.length, platform: { architecture, os } });
  }

  let top: Descriptor;
  const only = imageDescriptors[0];
  if (options.platforms === undefined && only !== undefined) {
    top = { mediaType: OCI_MANIFEST_TYPE, digest: only.digest, size: only.size };
  } else {
    const index = json({ schemaVersion: 2, mediaType: OCI_INDEX_TYPE, manifests: imageDescriptors });
    top = { mediaType: OCI_INDEX_TYPE, digest: sha256Digest(index), size: index.length };
    manifests.set(top.digest, index);
  }

  const refName = 'latest';
  const dir = await mkdtemp(join(tmpdir(), 'edgepier-image-'));
  const blobDir = join(dir, 'blobs', 'sha256');
  await mkdir(blobDir, { recursive: true });
  for (const [digest, bytes] of [...manifests, ...blobs]) {
    await writeFile(join(blobDir, digest.slice('sha256:'.length)), bytes);
  }
  await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await writeFile(
    join(dir, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_INDEX_TYPE,
      manifests: [{ ...top, annotations: { 'org.opencontainers.image.ref.name': refName } }],
    }),
  );

  let totalBytes = 0;
  for (const bytes of [...manifests.values(), ...blobs.values()]) totalBytes += bytes.length;
  return {
    dir,
    refName,
    topDigest: top.digest,
    topMediaType: top.mediaType,
    manifests,
    blobs,
    platformManifests,
    platformLayers,
    totalBytes,
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}

/**
 * Pushes the layout with `skopeo copy --all --preserve-digests` and checks that the registry
 * serves exactly the layout's manifests (by tag and by digest) and holds every blob.
 */
export async function pushImage(
  layout: ImageLayout,
  registry: PushTarget,
  reference: string,
  options: { timeoutMs?: number } = {},
): Promise<PushedImage> {
  const { repository, tag } = parseRepositoryTag(reference);
  const creds =
    registry.username !== undefined
      ? ['--dest-creds', `${registry.username}:${registry.password ?? ''}`]
      : ['--dest-no-creds'];
  await runCommand(
    'skopeo',
    [
      '--insecure-policy', 'copy', '--all', '--preserve-digests', '--retry-times', '0', '--quiet',
      '--dest-tls-verify=false', ...creds,
      `oci:${layout.dir}:${layout.refName}`, `docker://${registry.host}/${repository}:${tag}`,
    ],
    { timeoutMs: options.timeoutMs ?? 60_000 },
  );

  const client = new RegistryHttpClient(registry);
  const top = await client.getManifest(repository, tag);
  if (top.digest !== layout.topDigest || top.headerDigest !== layout.topDigest) {
    throw new Error(
      `pushImage: registry serves ${top.digest} (header ${String(top.headerDigest)}) for ${repository}:${tag}, layout has ${layout.topDigest}`,
    );
  }
  for (const [digest, bytes] of layout.manifests) {
    const served = await client.getManifest(repository, digest);
    if (!served.bytes.equals(bytes)) throw new Error(`pushImage: manifest ${digest} differs in the registry`);
  }
  for (const [digest, bytes] of layout.blobs) {
    const size = await client.headBlob(repository, digest);
    if (size !== bytes.length) throw new Error(`pushImage: blob ${digest} has size ${String(size)} in the registry, want ${bytes.length}`);
  }
  return {
    repository,
    tag,
    reference: `${registry.host}/${repository}:${tag}`,
    topDigest: top.digest,
    topMediaType: top.mediaType,
    manifests: layout.manifests,
    blobs: layout.blobs,
    platformManifests: layout.platformManifests,
    platformLayers: layout.platformLayers,
    totalBytes: layout.totalBytes,
  };
}
