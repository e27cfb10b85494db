import { requestTarget, type ServedRequest } from './metrics-served-request.js';

/** A manifest this node's runtimes pulled, newest first. */
export interface RecentManifest {
  /** Registry host and repository, as the status page names it. */
  readonly repository: string;
  /** Tag or digest as asked. */
  readonly reference: string;
  readonly digest: string;
}

/**
 * The last few distinct manifests local clients pulled: the images "being pulled" that the
 * site view follows. Kept apart from the recent pulls, whose 50 entries one image's layers
 * can fill, pushing out the manifest that names them.
 */
export class RecentManifests {
  private readonly entries = new Map<string, RecentManifest>();

  constructor(private readonly capacity = 16) {}

  record(request: ServedRequest): void {
    const target = requestTarget(request);
    const digest = request.facts.digest;
    if (target?.kind !== 'manifest' || request.method !== 'GET' || request.status !== 200 || digest === undefined) return;
    this.entries.delete(digest);
    this.entries.set(digest, { repository: target.repository, reference: target.reference, digest });
    for (const oldest of this.entries.keys()) {
      if (this.entries.size <= this.capacity) break;
      this.entries.delete(oldest);
    }
  }

  list(): RecentManifest[] {
    return [...this.entries.values()].reverse();
  }
}
