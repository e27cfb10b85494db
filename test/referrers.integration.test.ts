// GET /v2/<name>/referrers/<digest> through the mirror, for an image with two artifacts (a
// signature and an SBOM) attached by `subject`: from the referrers tag schema on distribution
// 2.8 (which has no referrers API), from the API on a loopback upstream that has it; filtered
// and unfiltered; online and with the upstream gone, artifacts included.
import assert from 'node:assert/strict';
import { describe, test, type TestContext } from 'node:test';
import { startMirror, type MirrorUnderTest } from './support/mirror-under-test.js';
import { OCI_INDEX_TYPE, OCI_MANIFEST_TYPE } from './support/oci-media-types.js';
import {
  pushArtifact,
  pushBlob,
  pushManifest,
  pushReferrersTag,
  type Artifact,
  type PushedDescriptor,
} from './support/oci-push.js';
import { ReferrersRegistry } from './support/referrers-registry.js';
import { startRegistry } from './support/registry-process.js';
import { sha256Digest } from './support/sha256.js';

const SIGNATURE_TYPE = 'application/vnd.dev.cosign.artifact.sig.v1+json';
const SBOM_TYPE = 'application/spdx+json';

interface Upstream {
  readonly url: string;
  stop(): Promise<void>;
}

interface SignedImage {
  readonly subject: PushedDescriptor;
  readonly signature: Artifact;
  readonly sbom: Artifact;
}

async function pushSignedImage(url: string, repository: string, withReferrersTag: boolean): Promise<SignedImage> {
  const config = Buffer.from('{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}');
  const configDigest = await pushBlob(url, repository, config);
  const layer = Buffer.from('image layer bytes');
  const layerDigest = await pushBlob(url, repository, layer);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST_TYPE,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: layerDigest, size: layer.length }],
    }),
  );
  await pushManifest(url, repository, 'v1', manifest, OCI_MANIFEST_TYPE);
  const subject = { mediaType: OCI_MANIFEST_TYPE, digest: sha256Digest(manifest), size: manifest.length };
  const signature = await pushArtifact(url, repository, subject, SIGNATURE_TYPE, Buffer.from('{"critical":{"image":{"docker-manifest-digest":"x"}}}'), 'application/vnd.dev.cosign.simplesigning.v1+json');
  const sbom = await pushArtifact(url, repository, subject, SBOM_TYPE, Buffer.from('{"spdxVersion":"SPDX-2.3","packages":[]}'), SBOM_TYPE);
  // What a client does where there is no referrers API: it keeps the list under a tag itself.
  if (withReferrersTag) await pushReferrersTag(url, repository, subject.digest, [signature.descriptor, sbom.descriptor]);
  return { subject, signature, sbom };
}

interface ReferrersAnswer {
  readonly status: number;
  readonly contentType: string | null;
  readonly filters: string | null;
  readonly stale: string | null;
  readonly body: { schemaVersion?: number; mediaType?: string; manifests?: unknown[]; errors?: unknown[] };
}

async function referrers(mirror: MirrorUnderTest, subject: string, artifactType?: string): Promise<ReferrersAnswer> {
  const query = artifactType ? `?artifactType=${encodeURIComponent(artifactType)}` : '';
  const response = await fetch(`${mirror.url}/v2/app/referrers/${subject}${query}`, { signal: AbortSignal.timeout(15_000) });
  return {
    status: response.status,
    contentType: response.headers.get('content-type'),
    filters: response.headers.get('oci-filters-applied'),
    stale: response.headers.get('x-edgepier-stale'),
    body: (await response.json()) as ReferrersAnswer['body'],
  };
}

/** Fetches an artifact the way a verifier does (manifest by digest, then its layer) and checks the bytes. */
async function fetchArtifact(mirror: MirrorUnderTest, artifact: Artifact): Promise<string[]> {
  const manifest = await fetch(`${mirror.url}/v2/app/manifests/${artifact.descriptor.digest}`, { headers: { accept: OCI_MANIFEST_TYPE } });
  assert.equal(manifest.status, 200);
  assert.ok(Buffer.from(await manifest.arrayBuffer()).equals(artifact.manifest), 'artifact manifest bytes');
  const layer = await fetch(`${mirror.url}/v2/app/blobs/${artifact.layerDigest}`);
  assert.equal(layer.status, 200);
  assert.ok(Buffer.from(await layer.arrayBuffer()).equals(artifact.layer), 'artifact layer bytes');
  return [manifest.headers.get('x-edgepier-source') ?? '', layer.headers.get('x-edgepier-source') ?? ''];
}

async function assertListsBoth(mirror: MirrorUnderTest, image: SignedImage, stale: boolean): Promise<void> {
  const all = await referrers(mirror, image.subject.digest);
  assert.equal(all.status, 200, JSON.stringify(all.body));
  assert.equal(all.contentType, OCI_INDEX_TYPE, 'Content-Type exactly the image index type');
  assert.equal(all.filters, null);
  assert.equal(all.stale, stale ? 'true' : null);
  assert.deepEqual(all.body, { schemaVersion: 2, mediaType: OCI_INDEX_TYPE, manifests: [image.signature.descriptor, image.sbom.descriptor] });
  const sboms = await referrers(mirror, image.subject.digest, SBOM_TYPE);
  assert.equal(sboms.status, 200);
  assert.equal(sboms.contentType, OCI_INDEX_TYPE);
  assert.equal(sboms.filters, 'artifactType');
  assert.deepEqual(sboms.body.manifests, [image.sbom.descriptor]);
  const none = await referrers(mirror, image.subject.digest, 'application/vnd.example.none');
  assert.deepEqual(none.body.manifests, []);
}

async function onlineThenOffline(t: TestContext, upstream: Upstream, image: SignedImage): Promise<MirrorUnderTest> {
  const mirror = await startMirror({ upstreams: [{ registry: 'upstream.test', url: upstream.url }], upstreamTimeoutMs: 2_000, tagTimeoutMs: 2_000 });
  t.after(() => mirror.close());
  await assertListsBoth(mirror, image, false);
  for (const artifact of [image.signature, image.sbom]) assert.deepEqual(await fetchArtifact(mirror, artifact), ['upstream', 'upstream']);
  const unsigned = await referrers(mirror, `sha256:${'0'.repeat(64)}`);
  assert.equal(unsigned.status, 200, 'a subject nothing refers to: an empty index, not an error');
  assert.deepEqual(unsigned.body.manifests, []);

  await upstream.stop();
  await assertListsBoth(mirror, image, true);
  for (const artifact of [image.signature, image.sbom]) assert.deepEqual(await fetchArtifact(mirror, artifact), ['cache', 'cache']);
  const unknown = await referrers(mirror, `sha256:${'1'.repeat(64)}`);
  assert.equal(unknown.status, 502, 'never seen and upstream gone: the upstream failure, not an empty list');
  return mirror;
}

describe('referrers through the mirror', () => {
  test('distribution 2.8 (no referrers API): answered from the referrers tag, kept for offline', async (t) => {
    const registry = await startRegistry();
    t.after(() => registry.stop());
    const image = await pushSignedImage(registry.url, 'app', true);
    const direct = await fetch(`${registry.url}/v2/app/referrers/${image.subject.digest}`);
    await direct.arrayBuffer();
    assert.equal(direct.status, 404, 'the upstream really lacks the API, so the fallback is what is under test');
    await onlineThenOffline(t, registry, image);
  });

  test('an upstream with the referrers API: asked there, never for the tag', async (t) => {
    const upstream = new ReferrersRegistry();
    await upstream.start();
    t.after(() => upstream.stop());
    const image = await pushSignedImage(upstream.url, 'app', false);
    await onlineThenOffline(t, upstream, image);
    assert.ok(upstream.count((request) => request.path === `/v2/app/referrers/${image.subject.digest}`) >= 1);
    assert.equal(upstream.count((request) => request.path.includes('/manifests/sha256-')), 0, 'the tag fallback was not used');
    assert.ok(
      upstream.requests.filter((request) => request.path.includes('/referrers/')).every((request) => request.query === ''),
      'asked unfiltered: the whole list is kept and filtered here',
    );
  });

  test('bad subjects are refused with the digest codes', async (t) => {
    const upstream = new ReferrersRegistry();
    await upstream.start();
    t.after(() => upstream.stop());
    const mirror = await startMirror({ upstreams: [{ registry: 'upstream.test', url: upstream.url }] });
    t.after(() => mirror.close());
    const bad = await fetch(`${mirror.url}/v2/app/referrers/latest`);
    assert.equal(bad.status, 400);
    assert.equal(((await bad.json()) as { errors: Array<{ code: string }> }).errors[0]?.code, 'DIGEST_INVALID');
    assert.equal(upstream.count(() => true), 0);
  });
});
