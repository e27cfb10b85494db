import type { Logger } from 'pino';
import { RegistryError } from '../oci/registry-error.js';
import type { SummaryPrefetch } from '../peer/site-summary.js';

/** The counters a prefetch moves as it goes (the shape prefetch's progress reporter has). */
export interface PrefetchJobProgress {
  start(totalBlobs: number, totalBytes: number): void;
  advance(bytes: number): void;
  blobDone(digest: string, size: number, source: string): void;
  finish(): void;
}

export interface SitePrefetchJobsOptions {
  /** Checks and normalises an image reference (throws on a bad one). */
  readonly normalise: (image: string) => string;
  /** Pulls `image` through this node (cache, peers and owners, upstream), pinning it if asked. */
  readonly run: (request: { image: string; pin: boolean }, progress: PrefetchJobProgress) => Promise<void>;
  readonly logger: Logger;
  /** Prefetches running at once; more are refused (429) rather than queued without bound. */
  readonly maxRunning?: number;
}

interface Job {
  state: SummaryPrefetch['state'];
  blobs: number;
  blobsDone: number;
  bytes: number;
  bytesDone: number;
  error?: string;
  readonly pinned: boolean;
}

/**
 * The site prefetches a member was asked to run (`edgepier prefetch --site`), with their
 * progress for the site view. The newest per image replaces the one before, and only the
 * last few are kept: a member's summary lists them.
 */
export class SitePrefetchJobs {
  private readonly jobs = new Map<string, Job>();
  private readonly maxRunning: number;

  constructor(private readonly options: SitePrefetchJobsOptions) {
    this.maxRunning = options.maxRunning ?? 2;
  }

  /** Starts a prefetch of `image` (or leaves the running one); resolves the normalised name. */
  start(image: string, pin: boolean): string {
    let name: string;
    try {
      name = this.options.normalise(image);
    } catch (error) {
      throw new RegistryError('NAME_INVALID', `image ${JSON.stringify(image.slice(0, 200))}: ${error instanceof Error ? error.message : String(error)}`);
    }
    if (this.jobs.get(name)?.state === 'running') return name;
    const running = [...this.jobs.values()].filter((job) => job.state === 'running').length;
    if (running >= this.maxRunning) throw new RegistryError('TOOMANYREQUESTS', `this node already runs ${running} site prefetches`);
    const job: Job = { state: 'running', blobs: 0, blobsDone: 0, bytes: 0, bytesDone: 0, pinned: pin };
    this.jobs.delete(name);
    this.jobs.set(name, job);
    for (const [oldest, old] of this.jobs) {
      if (this.jobs.size <= 8) break;
      if (old.state !== 'running') this.jobs.delete(oldest);
    }
    const progress: PrefetchJobProgress = {
      start: (blobs, bytes) => {
        job.blobs = blobs;
        job.bytes = bytes;
      },
      advance: (bytes) => {
        job.bytesDone += bytes;
      },
      blobDone: () => {
        job.blobsDone += 1;
      },
      finish: () => undefined,
    };
    const logger = this.options.logger.child({ image: name });
    logger.info({ pin }, 'site prefetch started');
    this.options.run({ image: name, pin }, progress).then(
      () => {
        job.state = 'done';
        logger.info({ blobs: job.blobs, bytes: job.bytes }, 'site prefetch done');
      },
      (error: unknown) => {
        job.state = 'failed';
        job.error = (error instanceof Error ? error.message : String(error)).slice(0, 256);
        logger.warn({ err: job.error }, 'site prefetch failed');
      },
    );
    return name;
  }

  /** Newest first. */
  list(): SummaryPrefetch[] {
    return [...this.jobs.entries()].reverse().map(([image, job]) => ({ image, ...job }));
  }
}
