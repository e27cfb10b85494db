// One behavioural suite for RegistryClient: what the mirror core relies on from any upstream,
// checked against real registries over HTTP. Run by test/registry-client-contract.test.ts
// (loopback registries in this process) and
// test/registry-client-contract-distribution.integration.test.ts (a real docker-registry).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { RegistryError } from '../../oci/registry-error.js';
import type { RegistryClient } from '../../upstream/registry-client.js';
import { OCI_MANIFEST_TYPE } from './oci-media-types.js';
import { pushArtifact, pushBlob, pushManifest } from './oci-push.js';
import { sha256Digest } from './sha256.js';

const LAYER_TYPE = 'application/vnd.oci.image.layer.v1.tar';

/** A registry the suite can publish to, and a client of it under test. */
export interface RegistryUnderContract {
  readonly client: RegistryClient;
  /** The registry's base URL, for pushes (`http://127.0.0.1:PORT`). */
  readonly url: string;
  putBlob(repository: string, bytes: Buffer): Promise<void>;
  /** Stores `body` under `tag` with `mediaType`, as a push would. */
  putManifest(repository: string, tag: string, body: Buffer, mediaType: string): Promise<void>;
  /**
   * - `api`: serves OCI 1.1 `GET /v2/<name>/referrers/<digest>` (pushes with a subject are indexed).
   * - `none`: answers it 404, as distribution 2.8 does; the client must say "no API", not fail.
   */
  readonly referrers: 'api' | 'none';
  /** False for a registry without `GET /v2/<name>/tags/list`: its tag cases are skipped, with that reason. */
  readonly tagList: boolean;
  stop(): Promise<void>;
}

/** A registry that takes pushes over HTTP (oci-push.ts), as docker-registry and ReferrersRegistry do. */
export function takingPushes(
  registry: { readonly url: string; stop(): Promise<void> },
  client: RegistryClient,
  features: Pick<RegistryUnderContract, 'referrers' | 'tagList'>,
): RegistryUnderContract {
  return {
    client,
    url: registry.url,
    putBlob: async (repository, bytes) => {
      await pushBlob(registry.url, repository, bytes);
    },
    putManifest: async (repository, tag, body, mediaType) => {
      await pushManifest(registry.url, repository, tag, body, mediaType);
    },
    ...features,
    stop: () => registry.stop(),
  };
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function assertOciError(promise: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof RegistryError, `an RegistryError, not ${String(error)}`);
    assert.equal(error.code, code);
    return true;
  });
}

interface Published {
  readonly repository: string;
  readonly tag: string;
  readonly manifest: Buffer;
  readonly manifestDigest: string;
  readonly layer: Buffer;
  readonly layerDigest: string;
}

export function registryClientContract(name: string, start: () => Promise<RegistryUnderContract>): void {
  describe(`RegistryClient contract: ${name}`, () => {
    let registry: RegistryUnderContract;
    let image: Published;
    before(async () => {
      registry = await start();
      const repository = 'contract/app';
      const config = Buffer.from('{"architecture":"amd64","os":"linux"}');
      // Large enough to arrive in several chunks, so a resumed read is a real tail.
      const layer = randomBytes(256 * 1024 + 17);
      await registry.putBlob(repository, config);
      await registry.putBlob(repository, layer);
      const manifest = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: OCI_MANIFEST_TYPE,
          config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256Digest(config), size: config.length },
          layers: [{ mediaType: LAYER_TYPE, digest: sha256Digest(layer), size: layer.length }],
        }),
      );
      await registry.putManifest(repository, 'v1', manifest, OCI_MANIFEST_TYPE);
      image = { repository, tag: 'v1', manifest, manifestDigest: sha256Digest(manifest), layer, layerDigest: sha256Digest(layer) };
    });
    after(() => registry.stop());

    it('GET of a manifest by tag returns its exact bytes, media type, size and digest', async () => {
      const manifest = await registry.client.fetchManifest(image.repository, image.tag, { method: 'GET' });
      assert.ok(manifest.body?.equals(image.manifest), 'the bytes as pushed');
      assert.equal(manifest.mediaType, OCI_MANIFEST_TYPE);
      assert.equal(manifest.size, image.manifest.length);
      assert.equal(manifest.reportedDigest, image.manifestDigest);
    });

    it('HEAD of a manifest by digest has the size and media type, and no body', async () => {
      const manifest = await registry.client.fetchManifest(image.repository, image.manifestDigest, { method: 'HEAD' });
      assert.equal(manifest.body, undefined);
      assert.equal(manifest.size, image.manifest.length);
      assert.equal(manifest.mediaType, OCI_MANIFEST_TYPE);
    });

    it('an unknown tag is MANIFEST_UNKNOWN', async () => {
      await assertOciError(registry.client.fetchManifest(image.repository, 'no-such-tag', { method: 'GET' }), 'MANIFEST_UNKNOWN');
    });

    it('a blob streams whole from offset 0, with its size', async () => {
      const blob = await registry.client.fetchBlob(image.repository, image.layerDigest, {});
      assert.equal(blob.offset, 0);
      assert.equal(blob.size, image.layer.length);
      assert.ok((await readAll(blob.stream)).equals(image.layer));
    });

    it('a blob read from an offset starts where `offset` says (a registry may ignore the range)', async () => {
      const asked = 100_001;
      const blob = await registry.client.fetchBlob(image.repository, image.layerDigest, { offset: asked });
      assert.ok(blob.offset === asked || blob.offset === 0, `offset ${blob.offset}`);
      assert.ok((await readAll(blob.stream)).equals(image.layer.subarray(blob.offset)));
    });

    it('HEAD of a blob gives its size; an unknown blob is BLOB_UNKNOWN for GET and HEAD', async () => {
      assert.deepEqual(await registry.client.headBlob(image.repository, image.layerDigest), { size: image.layer.length });
      const missing = sha256Digest(randomBytes(32));
      await assertOciError(registry.client.fetchBlob(image.repository, missing, {}), 'BLOB_UNKNOWN');
      await assertOciError(registry.client.headBlob(image.repository, missing), 'BLOB_UNKNOWN');
    });

    it('the tag list names the pushed tag; a repository nobody pushed to is NAME_UNKNOWN', async (t) => {
      if (!registry.tagList) {
        t.skip(`${name} has no tag list route; the other registries of this suite cover it`);
        return;
      }
      const page = await registry.client.listTags(image.repository, {});
      assert.ok(page.tags.includes(image.tag), JSON.stringify(page.tags));
      assert.equal(page.more, false);
      await assertOciError(registry.client.listTags('contract/nobody-pushed-here', {}), 'NAME_UNKNOWN');
    });

    it('referrers: the index of manifests whose subject is the image where the API exists, undefined (not an error) where it does not', async () => {
        const subject = { mediaType: OCI_MANIFEST_TYPE, digest: image.manifestDigest, size: image.manifest.length };
        if (registry.referrers === 'none') {
          assert.equal(await registry.client.fetchReferrers(image.repository, subject.digest, {}), undefined);
          return;
        }
        const artifactType = 'application/vnd.example.signature.v1';
        const artifact = await pushArtifact(registry.url, image.repository, subject, artifactType, randomBytes(64), 'application/vnd.example.signature.layer');
        const referrers = await registry.client.fetchReferrers(image.repository, subject.digest, {});
        assert.ok(referrers !== undefined, 'the registry has the API');
        const index = JSON.parse(referrers.body.toString()) as { manifests: Array<{ digest: string; artifactType?: string }> };
        assert.deepEqual(
          index.manifests.map((entry) => [entry.digest, entry.artifactType]),
          [[artifact.descriptor.digest, artifactType]],
        );
    });
  });
}
