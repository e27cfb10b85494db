// The site page (`/site`) in a real headless Chromium, in the middle of a rollout on a keyed
// three-node site: one node holds the image, another is still receiving a layer (trickling
// in from the upstream), a member that left shows as down. The page must fit a 1280 px window,
// show a bar per member per image, keep full digests copyable behind the short ones, run no
// injected script, and leave screenshots under test-artifacts/ for a human to look at.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { chromium } from 'playwright-core';
import { MemoryDiscovery } from '../discovery/memory-discovery.js';
import type { SiteSnapshot } from '../server/site-view.js';
import { startLoopbackRegistry, type LoopbackRegistry } from './support/loopback-registry.js';
import { startMemorySite } from './support/memory-site.js';
import { makeTempDir } from './support/temp-dir.js';
import { waitUntil } from './support/wait-until.js';

const CHROMIUM = process.env.EDGEPIER_TEST_CHROMIUM ?? '/usr/bin/chromium';
const ARTIFACTS = join(import.meta.dirname, '..', 'test-artifacts');
const HOSTILE_ID = '<img src=x onerror=window.__pwned=1>';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const MANIFEST_TYPE = 'application/vnd.oci.image.manifest.v1+json';

function addImage(registry: LoopbackRegistry, repository: string, tag: string, layers: Buffer[]): { digest: string; blobs: string[] } {
  const config = Buffer.from(JSON.stringify({ os: 'linux', architecture: 'amd64', tag }));
  const configDigest = registry.addBlob(config);
  const digests = layers.map((layer) => registry.addBlob(layer));
  const manifest = registry.addManifest(repository, tag, {
    schemaVersion: 2,
    mediaType: MANIFEST_TYPE,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
    layers: layers.map((layer, index) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: digests[index], size: layer.length })),
  });
  return { digest: manifest.digest, blobs: [configDigest, ...digests] };
}

async function pull(url: string, repository: string, tag: string, blobs: readonly string[]): Promise<void> {
  await (await fetch(`${url}/v2/${repository}/manifests/${tag}`, { headers: { accept: MANIFEST_TYPE } })).arrayBuffer();
  for (const digest of blobs) await (await fetch(`${url}/v2/${repository}/blobs/${digest}`)).arrayBuffer();
}

test('the site page shows a rollout as it happens, in a 1280 px window', { skip: existsSync(CHROMIUM) ? false : `${CHROMIUM} is missing: apt-get install -y chromium` }, async (t) => {
  const upstream = await startLoopbackRegistry(t);
  const site = await startMemorySite({ nodes: 3, upstreamUrl: upstream.url, siteKey: true });
  t.after(() => site.close());
  const [first, second, third] = site.nodes;
  assert.ok(first && second && third);

  // A member that was seen and left: down, under a name that must stay text.
  const departed = new MemoryDiscovery({ lan: site.lan, nodeId: HOSTILE_ID, url: 'https://127.0.0.9:5001' });
  await departed.start();
  await waitUntil(() => third.node.peerDiscovery?.peers().some((peer) => peer.id === HOSTILE_ID) === true, 'the departing member seen');
  await departed.close();
  await waitUntil(() => third.node.peerDiscovery?.peers().every((peer) => peer.id !== HOSTILE_ID) === true, 'the member gone');

  const web = addImage(upstream, 'shop/web', 'v7', [randomBytes(900_000), randomBytes(400_000), randomBytes(150_000)]);
  await pull(first.url, 'shop/web', 'v7', web.blobs);
  // The rollout in progress: node 2 pulls a second image whose big layer is cold everywhere and
  // trickles in from the upstream (16 KiB every 250 ms: slow, but never idle long enough to time out).
  const api = addImage(upstream, 'shop/api', 'v3', [randomBytes(2_000_000), randomBytes(100_000)]);
  upstream.setBehaviour(api.blobs[1] ?? assert.fail('layer'), { kind: 'slow', chunk: 16 * 1024, intervalMs: 250 });
  const pulling = pull(second.url, 'shop/api', 'v3', api.blobs);
  t.after(() => pulling.catch(() => undefined));
  await waitUntil(async () => {
    const view = (await (await fetch(`${third.url}/site.json`)).json()) as SiteSnapshot;
    return view.members.some((member) => member.summary?.downloads.some((download) => download.receivedBytes >= 100_000));
  }, 'the slow download visible in the site view', 15_000);

  const profile = await makeTempDir('chromium-profile');
  t.after(() => profile.remove());
  const context = await chromium.launchPersistentContext(profile.path, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, timeout: 60_000, viewport: { width: 1280, height: 900 } });
  t.after(() => context.close());
  const page = context.pages()[0] ?? (await context.newPage());
  const consoleErrors: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') consoleErrors.push(message.text());
  });
  const response = await page.goto(`${third.url}/site?refresh=0`, { waitUntil: 'load', timeout: 30_000 });
  assert.equal(response?.status(), 200);
  assert.equal(await page.locator('#members-up').textContent(), '3', JSON.stringify(((await (await fetch(`${third.url}/site.json`)).json()) as SiteSnapshot).members.map((m) => [m.id, m.state, m.problem])));
  assert.equal(await page.locator('#members tbody tr').count(), 4, 'three members up and the one that left');
  assert.match((await page.locator('#members tbody tr').last().textContent()) ?? '', /down/);
  assert.equal(await page.locator('#members img').count(), 0, 'a hostile id stays text');
  assert.equal(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned), undefined);

  // One bar per member per image; node 1 holds all of shop/web.
  const images = page.locator('section.image');
  assert.equal(await images.count(), 2);
  const webBlock = page.locator('section.image', { hasText: 'shop/web:v7' });
  assert.equal(await webBlock.locator('.rows .bar').count(), 4, 'a bar for each member, the departed one empty');
  const heldWidth = await webBlock.locator('[id$="-node-1"] .held').evaluate((element) => parseFloat((element as HTMLElement).style.width));
  assert.equal(heldWidth, 100);
  // shop/api: node 2 has a layer arriving, shown as the "arriving" part of its bar.
  const apiBlock = page.locator('section.image', { hasText: 'shop/api:v3' });
  const arriving = await apiBlock.locator('.rows .arriving').evaluateAll((elements) => elements.map((element) => parseFloat((element as HTMLElement).style.width)));
  assert.ok(arriving.some((width) => width > 0), `a bar shows the bytes arriving: ${arriving.join(',')}`);
  assert.ok((await page.locator('#downloads tbody tr').count()) >= 1, 'the download in flight is listed');

  // Digests: short on screen, the full value copyable.
  const digestField = apiBlock.locator('h3 input.digest');
  assert.equal(await digestField.inputValue(), api.digest, 'the whole digest is there to copy');
  const fieldWidth = await digestField.evaluate((element) => element.getBoundingClientRect().width);
  assert.ok(fieldWidth < 200, `shown short (${fieldWidth} px)`);

  // Fits the window: nothing scrolls sideways at 1280 px.
  const scrollWidth = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(scrollWidth <= 1280, `page is ${scrollWidth} px wide`);

  await mkdir(ARTIFACTS, { recursive: true });
  const during = join(ARTIFACTS, 'site-page-rollout.png');
  await page.screenshot({ path: during, fullPage: true });
  assert.ok((await stat(during)).size > 10_000, 'a real screenshot was written');

  await pulling;
  await waitUntil(async () => {
    const view = (await (await fetch(`${third.url}/site.json`)).json()) as SiteSnapshot;
    return view.images.find((image) => image.digest === api.digest)?.members['node-2']?.heldLayers === 3;
  }, 'node 2 holds shop/api');
  await page.goto(`${third.url}/site?refresh=0`, { waitUntil: 'load', timeout: 30_000 });
  const after = join(ARTIFACTS, 'site-page-done.png');
  await page.screenshot({ path: after, fullPage: true });
  assert.ok((await stat(after)).size > 10_000);
  assert.deepEqual(consoleErrors, [], 'no console errors (CSP violations included)');
});
