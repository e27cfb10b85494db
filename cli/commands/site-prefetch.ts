import { setTimeout as delay } from 'node:timers/promises';
import type { SummaryPrefetch } from '../../peer/site-summary.js';
import type { PrefetchFanout, SiteSnapshot } from '../../server/site-view.js';
import { formatBytes } from '../../server/status-format.js';
import { fetchFromNode } from './node-fetch.js';

export interface SitePrefetchOptions {
  /** The local node's client API. */
  readonly node: string;
  readonly image: string;
  readonly pin: boolean;
  /** The whole prefetch, every member, must end within this. */
  readonly timeoutMs: number;
  /** Between two looks at the site view. */
  readonly pollMs?: number;
  readonly out: (text: string) => void;
}

export interface SitePrefetchOutcome {
  readonly image: string;
  readonly done: readonly string[];
  readonly failed: ReadonlyArray<{ readonly id: string; readonly problem: string }>;
}

/** Site views in a row a member may be missing from before it counts as failed (one restart, one slow answer). */
const MISSING_POLLS = 5;

/**
 * `edgepier prefetch --site`: asks the local node to have every member prefetch the image,
 * then follows the site view until each member is done or failed, printing a line per
 * member whenever its progress moves. Every member pulls through the site as a runtime
 * would, so each layer crosses the WAN once (its owner fetches it, the others follow).
 */
export async function prefetchAcrossSite(options: SitePrefetchOptions): Promise<SitePrefetchOutcome> {
  const query = `image=${encodeURIComponent(options.image)}${options.pin ? '&pin=1' : ''}`;
  const started = await fetchFromNode(`${options.node}/site/prefetch?${query}`, { method: 'POST', signal: AbortSignal.timeout(30_000) });
  const text = await started.text();
  if (started.status !== 202) throw new Error(`${options.node}/site/prefetch answered ${started.status}: ${text.slice(0, 300)}`);
  const fanout = JSON.parse(text) as PrefetchFanout;
  const failed = new Map<string, string>();
  const waiting = new Set<string>();
  for (const member of fanout.members) {
    if (member.accepted) waiting.add(member.id);
    else failed.set(member.id, `refused: ${member.problem ?? 'no reason given'}`);
  }
  options.out(`${fanout.image}: ${waiting.size} members prefetching${failed.size > 0 ? `, ${failed.size} refused` : ''}\n`);
  for (const [id, problem] of failed) options.out(`  ${id}: ${problem}\n`);
  const done: string[] = [];
  const shown = new Map<string, string>();
  const missing = new Map<string, number>();
  const deadline = Date.now() + options.timeoutMs;
  while (waiting.size > 0) {
    if (Date.now() > deadline) {
      for (const id of waiting) failed.set(id, `not done after ${Math.round(options.timeoutMs / 1000)} s`);
      break;
    }
    await delay(options.pollMs ?? 1_000);
    const site = await readSite(options.node);
    for (const id of [...waiting]) {
      const member = site?.members.find((entry) => entry.id === id);
      const job = member?.summary?.prefetches.find((entry) => entry.image === fanout.image);
      if (!job) {
        const misses = (missing.get(id) ?? 0) + 1;
        missing.set(id, misses);
        if (misses >= MISSING_POLLS) {
          waiting.delete(id);
          failed.set(id, member?.state === 'down' ? `down: ${member.problem ?? ''}` : 'no longer reports the prefetch');
        }
        continue;
      }
      missing.delete(id);
      const line = describeJob(job);
      if (shown.get(id) !== line) {
        shown.set(id, line);
        options.out(`  ${id}: ${line}\n`);
      }
      if (job.state === 'done') {
        waiting.delete(id);
        done.push(id);
      } else if (job.state === 'failed') {
        waiting.delete(id);
        failed.set(id, job.error ?? 'failed');
      }
    }
  }
  return { image: fanout.image, done, failed: [...failed].map(([id, problem]) => ({ id, problem })) };
}

function describeJob(job: SummaryPrefetch): string {
  const share = job.bytes === 0 ? 0 : Math.min(100, (job.bytesDone / job.bytes) * 100);
  const figures = `${job.blobsDone}/${job.blobs} blobs, ${formatBytes(job.bytesDone)} of ${formatBytes(job.bytes)} (${share.toFixed(0)}%)`;
  return `${job.state} ${figures}${job.pinned ? ', pinned' : ''}${job.error ? `: ${job.error}` : ''}`;
}

/** One look at the site view; a failed look is only a missed poll. */
async function readSite(node: string): Promise<SiteSnapshot | undefined> {
  try {
    const response = await fetchFromNode(`${node}/site.json`, { signal: AbortSignal.timeout(30_000) });
    if (response.status !== 200) {
      await response.arrayBuffer();
      return undefined;
    }
    return (await response.json()) as SiteSnapshot;
  } catch {
    return undefined;
  }
}
