// The soak's upstream: a pull-only loopback registry that mints new images on demand, so cold
// pulls keep meeting digests nobody has seen for as long as the soak runs. Minted images are
// dropped once pulled (and warm ones are a fixed set), so the soak's own memory stays flat and
// does not blur the server's.
import { createHash, randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { answeredVersionCheck, answerNotFound, blobAnswerHead } from '../test/support/registry-answers.js';
import { LoopbackServer } from '../test/support/loopback-server.js';
import { OCI_CONFIG_TYPE, OCI_MANIFEST_TYPE } from '../test/support/oci-media-types.js';

export const SOAK_REPOSITORY = 'soak/app';

export interface SoakBlob {
  readonly digest: string;
  readonly size: number;
}

export interface SoakImage {
  readonly tag: string;
  readonly manifestDigest: string;
  /** Config first, then layers: what a pull fetches after the manifest. */
  readonly blobs: readonly SoakBlob[];
}

function digestOf(bytes: Buffer): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

export class SoakUpstream extends LoopbackServer {
  private readonly blobs = new Map<string, Buffer>();
  private readonly manifests = new Map<string, Buffer>();
  private readonly tags = new Map<string, string>();
  private minted = 0;
  blobGets = 0;

  /** A new image: a small config and `layerSizes` random layers, all of them new digests. */
  mint(layerSizes: readonly number[]): SoakImage {
    this.minted += 1;
    const tag = `v${this.minted}`;
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', soak: this.minted, nonce: randomBytes(8).toString('hex') }));
    const layers = layerSizes.map((size) => randomBytes(size));
    const add = (bytes: Buffer): SoakBlob => {
      const digest = digestOf(bytes);
      this.blobs.set(digest, bytes);
      return { digest, size: bytes.length };
    };
    const blobs = [add(config), ...layers.map(add)];
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST_TYPE,
        config: { mediaType: OCI_CONFIG_TYPE, digest: blobs[0]?.digest, size: blobs[0]?.size },
        layers: blobs.slice(1).map((blob) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: blob.digest, size: blob.size })),
      }),
    );
    const manifestDigest = digestOf(manifest);
    this.manifests.set(manifestDigest, manifest);
    this.tags.set(tag, manifestDigest);
    return { tag, manifestDigest, blobs };
  }

  /** Forgets an image's content: it was pulled once and is in the mirror's cache now. */
  drop(image: SoakImage): void {
    this.tags.delete(image.tag);
    this.manifests.delete(image.manifestDigest);
    for (const blob of image.blobs) this.blobs.delete(blob.digest);
  }

  /** Bytes held for blobs and manifests (the soak checks its own footprint stays bounded). */
  heldBytes(): number {
    let total = 0;
    for (const bytes of this.blobs.values()) total += bytes.length;
    for (const bytes of this.manifests.values()) total += bytes.length;
    return total;
  }

  async start(): Promise<void> {
    await this.listen({ keepAliveTimeoutMs: 30_000 });
  }

  protected handle(request: IncomingMessage, response: ServerResponse): void {
    const path = (request.url ?? '/').split('?')[0] ?? '/';
    if (answeredVersionCheck(path, response)) return;
    const match = /^\/v2\/(.+)\/(manifests|blobs)\/([^/]+)$/.exec(path);
    const [, , kind, reference = ''] = match ?? [];
    if (kind === 'manifests') {
      const digest = reference.startsWith('sha256:') ? reference : this.tags.get(reference);
      const body = digest ? this.manifests.get(digest) : undefined;
      if (!digest || !body) return answerNotFound(response, 'MANIFEST_UNKNOWN');
      response.writeHead(200, { 'content-type': OCI_MANIFEST_TYPE, 'content-length': body.length, 'docker-content-digest': digest });
      response.end(request.method === 'HEAD' ? undefined : body);
      return;
    }
    const blob = kind === 'blobs' ? this.blobs.get(reference) : undefined;
    if (!blob) return answerNotFound(response, 'BLOB_UNKNOWN');
    const { status, headers, start } = blobAnswerHead(request.headers, reference, blob.length);
    response.writeHead(status, headers);
    if (request.method === 'HEAD') {
      response.end();
      return;
    }
    this.blobGets += 1;
    response.end(blob.subarray(start));
  }
}
