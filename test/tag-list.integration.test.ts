// GET /v2/<name>/tags/list through the mirror: proxied with `n`/`last` paging (re-paged here
// when upstream ignores them, as Debian's distribution 2.8 does), a Link header to the next
// page, and the tags this node knows, marked stale, when upstream is unreachable.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startMirror, type MirrorUnderTest } from './support/mirror-under-test.js';
import { OCI_MANIFEST_TYPE } from './support/oci-media-types.js';
import { pushBlob, pushManifest } from './support/oci-push.js';
import { ReferrersRegistry } from './support/referrers-registry.js';
import { startRegistry, type RunningRegistry } from './support/registry-process.js';

const TAGS = ['v1.10', 'v1.2', 'latest', 'v1.1', 'edge', 'v2.0', 'beta'];
const SORTED = [...TAGS].sort();

async function pushTaggedImage(url: string, repository: string, tags: readonly string[]): Promise<void> {
  const config = Buffer.from('{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}');
  const configDigest = await pushBlob(url, repository, config);
  const manifest = Buffer.from(
    JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST_TYPE, config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length }, layers: [] }),
  );
  for (const tag of tags) await pushManifest(url, repository, tag, manifest, OCI_MANIFEST_TYPE);
}

interface TagListAnswer {
  readonly status: number;
  readonly body: { name?: string; tags?: string[]; errors?: Array<{ code: string }> };
  readonly link: string | null;
  readonly stale: string | null;
  readonly source: string | null;
}

async function listTags(mirror: MirrorUnderTest, path: string): Promise<TagListAnswer> {
  const response = await fetch(`${mirror.url}${path}`, { signal: AbortSignal.timeout(15_000) });
  return {
    status: response.status,
    body: (await response.json()) as TagListAnswer['body'],
    link: response.headers.get('link'),
    stale: response.headers.get('x-edgepier-stale'),
    source: response.headers.get('x-edgepier-source'),
  };
}

/** Follows Link headers from `first` (at most 20 pages) and returns every tag seen, in order. */
async function allPages(mirror: MirrorUnderTest, first: string): Promise<{ tags: string[]; pages: number }> {
  const tags: string[] = [];
  let path: string | undefined = first;
  let pages = 0;
  for (; path !== undefined && pages < 20; pages += 1) {
    const answer = await listTags(mirror, path);
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    tags.push(...(answer.body.tags ?? []));
    path = answer.link ? /^<([^>]+)>; rel="next"$/.exec(answer.link)?.[1] : undefined;
    if (answer.link) assert.ok(path, `Link header in the spec's form: ${answer.link}`);
  }
  assert.equal(path, undefined, 'paging ended');
  return { tags, pages };
}

describe('tag list through the mirror, real distribution 2.8 upstream', () => {
  let registry: RunningRegistry;
  let mirror: MirrorUnderTest;
  before(async () => {
    registry = await startRegistry();
    await pushTaggedImage(registry.url, 'team/app', TAGS);
    mirror = await startMirror({ upstreams: [{ registry: 'upstream.test', url: registry.url }], upstreamTimeoutMs: 2_000, tagTimeoutMs: 2_000 });
  });
  after(async () => {
    await mirror.close();
    await registry.stop();
  });

  test('the whole list, sorted as the spec orders it (2.8 sends it unsorted)', async () => {
    const answer = await listTags(mirror, '/v2/team/app/tags/list');
    assert.equal(answer.status, 200);
    assert.deepEqual(answer.body, { name: 'team/app', tags: SORTED });
    assert.equal(answer.link, null);
    assert.equal(answer.source, 'upstream');
    assert.equal(answer.stale, null);
  });

  test('n and last page through every tag once, with Link to the next page, though 2.8 ignores both', async () => {
    const first = await listTags(mirror, '/v2/team/app/tags/list?n=3');
    assert.deepEqual(first.body.tags, SORTED.slice(0, 3));
    assert.equal(first.link, `</v2/team/app/tags/list?n=3&last=${SORTED[2]}>; rel="next"`);
    const middle = await listTags(mirror, `/v2/team/app/tags/list?n=2&last=${SORTED[3]}`);
    assert.deepEqual(middle.body.tags, SORTED.slice(4, 6));
    const { tags, pages } = await allPages(mirror, '/v2/team/app/tags/list?n=3');
    assert.deepEqual(tags, SORTED);
    assert.equal(pages, 3);
    const past = await listTags(mirror, `/v2/team/app/tags/list?last=${SORTED.at(-1) ?? ''}`);
    assert.deepEqual(past.body.tags, []);
    assert.equal(past.link, null);
  });

  test('a repository upstream does not know is NAME_UNKNOWN (404)', async () => {
    const answer = await listTags(mirror, '/v2/team/nothing/tags/list');
    assert.equal(answer.status, 404);
    assert.equal(answer.body.errors?.[0]?.code, 'NAME_UNKNOWN');
  });

  test('a bad n is refused with 400 before upstream is asked', async () => {
    const answer = await listTags(mirror, '/v2/team/app/tags/list?n=-1');
    assert.equal(answer.status, 400);
    assert.equal(answer.body.errors?.[0]?.code, 'PAGINATION_NUMBER_INVALID');
  });

  test('upstream down: the tags this node resolved, marked stale, paged the same way', async () => {
    for (const tag of ['v1.2', 'edge', 'latest']) {
      const response = await fetch(`${mirror.url}/v2/team/app/manifests/${tag}`, { headers: { accept: OCI_MANIFEST_TYPE } });
      assert.equal(response.status, 200);
      await response.arrayBuffer();
    }
    await registry.stop();
    const answer = await listTags(mirror, '/v2/team/app/tags/list');
    assert.equal(answer.status, 200);
    assert.deepEqual(answer.body, { name: 'team/app', tags: ['edge', 'latest', 'v1.2'] });
    assert.equal(answer.stale, 'true');
    assert.equal(answer.source, 'cache');
    const { tags } = await allPages(mirror, '/v2/team/app/tags/list?n=1');
    assert.deepEqual(tags, ['edge', 'latest', 'v1.2']);
    const unknown = await listTags(mirror, '/v2/team/other/tags/list');
    assert.equal(unknown.status, 502, 'nothing known and nobody to ask: the upstream failure, not an empty list');
    assert.equal(unknown.body.errors?.[0]?.code, 'UPSTREAM_ERROR');
  });
});

describe('tag list through the mirror, an upstream that pages itself', () => {
  test('n and last are passed on, upstream pages are used as they are, Link keeps ?ns=', async (t) => {
    const upstream = new ReferrersRegistry();
    await upstream.start();
    t.after(() => upstream.stop());
    await pushTaggedImage(upstream.url, 'app', TAGS);
    const mirror = await startMirror({ upstreams: [{ registry: 'paging.test', url: upstream.url }] });
    t.after(() => mirror.close());
    const first = await listTags(mirror, '/v2/app/tags/list?n=4&ns=paging.test');
    assert.deepEqual(first.body.tags, SORTED.slice(0, 4));
    assert.equal(first.link, `</v2/app/tags/list?n=4&last=${SORTED[3]}&ns=paging.test>; rel="next"`);
    const second = await listTags(mirror, `/v2/app/tags/list?n=4&last=${SORTED[3]}&ns=paging.test`);
    assert.deepEqual(second.body.tags, SORTED.slice(4));
    assert.equal(second.link, null);
    const asked = upstream.requests.filter((request) => request.path === '/v2/app/tags/list').map((request) => request.query);
    assert.deepEqual(asked, ['?n=4', `?n=4&last=${SORTED[3]}`], 'one upstream call per page, with the client paging');
  });
});
