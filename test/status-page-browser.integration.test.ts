// The status page in a real headless Chromium (Debian's /usr/bin/chromium driven by
// playwright-core): it renders, shows peers and pulls, runs no injected script, and a
// screenshot is kept under test-artifacts/ for a human to look at.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { chromium } from 'playwright-core';
import { MemoryDiscovery } from '../discovery/memory-discovery.js';
import { pollUntil } from './support/child-process.js';
import { startNodeWithLayer } from './support/node-with-layer.js';
import { makeTempDir } from './support/temp-dir.js';

const CHROMIUM = process.env.EDGEPIER_TEST_CHROMIUM ?? '/usr/bin/chromium';
const ARTIFACTS = join(import.meta.dirname, '..', 'test-artifacts');
const HOSTILE_ID = '<img src=x onerror=window.__pwned=1>';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

test('the status page renders in headless Chromium with peers, cache and recent pulls', { skip: existsSync(CHROMIUM) ? false : `${CHROMIUM} is missing: apt-get install -y chromium` }, async (t) => {
  const layer = Buffer.alloc(750_000, 9);
  const { node, lan, layerDigest } = await startNodeWithLayer(t, { nodeId: 'edge-gw-1', cacheMaxSize: '2MiB', repository: 'site/web', tag: 'v2', layer });
  for (const [id, url] of [['edge-gw-2', 'http://127.0.0.2:5000'], [HOSTILE_ID, 'http://127.0.0.9:5000']] as const) {
    const peer = new MemoryDiscovery({ lan, nodeId: id, url });
    await peer.start();
    t.after(() => peer.close());
  }
  await pollUntil('peers seen', () => Promise.resolve(node.peerDiscovery?.peers().length === 2 ? true : undefined));
  await (await fetch(`${node.url}/v2/site/web/manifests/v2`)).arrayBuffer();
  for (let i = 0; i < 4; i += 1) await (await fetch(`${node.url}/v2/site/web/blobs/${layerDigest}`)).arrayBuffer();
  // A request is recorded when the server's side of it ends, which may be just after the
  // client has read the last byte.
  await pollUntil('five pulls recorded', async () => {
    const status = (await (await fetch(`${node.url}/status.json`)).json()) as { recentPulls: unknown[] };
    return status.recentPulls.length === 5 ? true : undefined;
  });

  const profile = await makeTempDir('chromium-profile');
  t.after(() => profile.remove());
  // launchPersistentContext is how playwright takes a --user-data-dir: a fresh one per run.
  const context = await chromium.launchPersistentContext(profile.path, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    timeout: 60_000,
    viewport: { width: 1280, height: 900 },
  });
  t.after(() => context.close());
  const page = context.pages()[0] ?? (await context.newPage());
  const consoleErrors: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') consoleErrors.push(message.text());
  });
  const response = await page.goto(`${node.url}/`, { waitUntil: 'load', timeout: 30_000 });
  assert.equal(response?.status(), 200);
  assert.equal(await page.title(), 'EdgePier · edge-gw-1');
  assert.equal(await page.locator('#node-id').textContent(), 'edge-gw-1');
  assert.match((await page.locator('#cache-used').textContent()) ?? '', /cache used.*\/ 2\.00 MiB/);
  assert.match((await page.locator('#hit-ratio').textContent()) ?? '', /75\.0%/);
  assert.match((await page.locator('#peers-up').textContent()) ?? '', /2/);
  assert.equal(await page.locator('#pulls tbody tr').count(), 5);
  assert.deepEqual(
    await page.locator('#pulls tbody tr td:nth-child(6)').allTextContents(),
    ['cache', 'cache', 'cache', 'upstream', 'upstream'],
    'each pull says where its bytes came from',
  );
  const peerIds = await page.locator('#peers tbody tr td:first-child').allTextContents();
  assert.deepEqual(peerIds.sort(), [HOSTILE_ID, 'edge-gw-2'].sort(), 'a hostile id is shown as text');
  assert.equal(await page.locator('#peers img').count(), 0, 'and never becomes markup');
  assert.equal(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned), undefined);
  assert.ok((await page.locator('#recent-bar span').count()) >= 2, 'the bytes-by-source bar has a segment per source');
  const meter = await page.locator('#cache-meter').getAttribute('value');
  assert.ok(Number(meter) > 0.3 && Number(meter) < 0.5, `cache meter ${meter}`);

  await mkdir(ARTIFACTS, { recursive: true });
  const screenshot = join(ARTIFACTS, 'status-page.png');
  await page.screenshot({ path: screenshot, fullPage: true });
  assert.ok((await stat(screenshot)).size > 10_000, 'a real screenshot was written');
  assert.deepEqual(consoleErrors, [], 'no console errors (CSP violations included)');
});
