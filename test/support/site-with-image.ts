// A site as the site integration tests start it: a LAN of namespaces behind a WAN, a real
// docker-registry as the cloud holding one test image, a work directory with a site key and a
// second key (for a node that is no member), and nodes started on it, keyed or open. Everything
// it starts is stopped when the test ends, last started first.
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { writeNewSiteKey } from '../../site/site-key.js';
import type { SiteNamespace } from './netns.js';
import { startCloudRegistry, type CloudRegistry } from './site-cloud-registry.js';
import { startSiteEdgePier, type SiteEdgePier } from './site-edgepier.js';
import { expectedImage, type ExpectedImage } from './site-pull.js';
import { createWanSite, type WanSite } from './site-wan.js';
import { makeTempDir } from './temp-dir.js';
import { buildImage, type ImageLayout } from './test-image.js';
import { cleanupsAfter } from './test-cleanups.js';

export interface SiteWithImageOptions {
  readonly nodes: number;
  /** `tc` rate of the WAN link, each direction (`20mbit`); omitted: unshaped. */
  readonly rate?: string;
  /** Pushed to the cloud before any node starts. */
  readonly reference: string;
  readonly layers: number;
  readonly layerSize: number;
  /** Seeds the image's bytes and names the work directory. */
  readonly seed: string;
}

export interface SiteNodeOptions {
  /** The site key the node holds (--site-key-file); omitted: a node of an open site. */
  readonly keyFile?: string;
  /** More `serve` flags (timeouts). */
  readonly args?: readonly string[];
  /** Who may use the client API besides loopback (default: the whole site). */
  readonly clientAllow?: string;
}

export interface SiteWithImage {
  readonly wan: WanSite;
  readonly cloud: CloudRegistry;
  /** The image as built (its total size, per-platform digests). */
  readonly layout: ImageLayout;
  /** What a pull of it must deliver. */
  readonly image: ExpectedImage;
  /** The work directory: node caches, keys, pulled images. */
  readonly workDir: string;
  /** The key every member holds. */
  readonly siteKey: string;
  /** A key of another site: a node holding it is no member. */
  readonly otherKey: string;
  /** Stops (or removes) this when the test ends, before what was started earlier. */
  defer(cleanup: () => Promise<unknown>): void;
  /** Starts `node<n>` in `namespace`, its cache in the work directory, upstream the cloud. */
  startNode(n: number, namespace: SiteNamespace, options?: SiteNodeOptions): Promise<SiteEdgePier>;
  /** `curl` run inside `namespace`: the HTTP status it got, or `curl failed: …` when none (no TLS handshake, no answer in 5 s). */
  curlStatus(namespace: SiteNamespace, args: readonly string[]): Promise<string>;
}

export async function startSiteWithImage(t: TestContext, options: SiteWithImageOptions): Promise<SiteWithImage> {
  const defer = cleanupsAfter(t);
  const wan = await createWanSite({ nodes: options.nodes, ...(options.rate ? { rate: options.rate } : {}) });
  defer(() => wan.destroy());
  const cloud = await startCloudRegistry(wan);
  defer(() => cloud.stop());
  const layout = await buildImage({ layers: options.layers, layerSize: options.layerSize, seed: options.seed });
  defer(() => layout.cleanup());
  await cloud.push(layout, options.reference);
  const work = await makeTempDir(options.seed);
  defer(() => work.remove());
  const siteKey = join(work.path, 'site.key');
  const otherKey = join(work.path, 'other.key');
  await writeNewSiteKey(siteKey);
  await writeNewSiteKey(otherKey);

  return {
    wan,
    cloud,
    layout,
    image: expectedImage(layout),
    workDir: work.path,
    siteKey,
    otherKey,
    defer,
    async startNode(n, namespace, node = {}) {
      const started = await startSiteEdgePier(namespace, {
        nodeId: `node${n}`,
        upstream: cloud.url,
        cacheDir: `${work.path}/cache${n}`,
        ...(node.keyFile ? { siteKeyFile: node.keyFile } : {}),
        ...(node.args ? { args: node.args } : {}),
        ...(node.clientAllow ? { clientAllow: node.clientAllow } : {}),
      });
      defer(() => started.stop());
      return started;
    },
    async curlStatus(namespace, args) {
      try {
        return await wan.site.exec(namespace.name, 'curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '5', ...args]);
      } catch (error) {
        return `curl failed: ${(error as Error).message.split('\n')[0] ?? ''}`;
      }
    },
  };
}
