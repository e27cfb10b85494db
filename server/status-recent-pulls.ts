import type { ContentSource } from '../mirror/mirror-results.js';
import { requestTarget, type ServedRequest } from './metrics-served-request.js';

/** One pull as the status page lists it. */
export interface RecentPull {
  /** ISO time the response finished. */
  readonly at: string;
  readonly method: string;
  readonly kind: 'manifest' | 'blob';
  readonly repository: string;
  /** Tag or digest as asked. */
  readonly reference: string;
  /** The content digest that was served. */
  readonly digest?: string;
  readonly source?: ContentSource;
  readonly bytes: number;
  readonly status: number;
  readonly ms: number;
  /** Set when a peer asked (this node served a neighbour). */
  readonly peer?: string;
  /** The client went away, or the transfer was cut, before the end. */
  readonly aborted?: boolean;
  /** Redirect mode: where the client was sent. */
  readonly redirect?: string;
}

/** The last `capacity` manifest and blob requests, oldest overwritten first. */
export class RecentPulls {
  private readonly entries: RecentPull[] = [];
  private next = 0;

  constructor(readonly capacity = 50) {
    if (!(capacity > 0)) throw new RangeError('capacity must be positive');
  }

  record(request: ServedRequest): void {
    const target = requestTarget(request);
    if (!target) return;
    const { facts } = request;
    const pull: RecentPull = {
      at: new Date(request.at).toISOString(),
      method: request.method,
      kind: target.kind,
      repository: target.repository,
      reference: target.reference,
      ...(facts.digest !== undefined ? { digest: facts.digest } : {}),
      ...(facts.source !== undefined ? { source: facts.source } : {}),
      bytes: request.method === 'HEAD' ? 0 : (facts.bytes ?? 0),
      status: request.status,
      ms: request.ms,
      ...(facts.peer !== undefined ? { peer: facts.peer } : {}),
      ...(facts.aborted ? { aborted: true } : {}),
      ...(facts.redirect !== undefined ? { redirect: facts.redirect } : {}),
    };
    if (this.entries.length < this.capacity) this.entries.push(pull);
    else this.entries[this.next] = pull;
    this.next = (this.next + 1) % this.capacity;
  }

  /** Newest first. */
  list(): RecentPull[] {
    const ordered = this.entries.length < this.capacity ? [...this.entries] : [...this.entries.slice(this.next), ...this.entries.slice(0, this.next)];
    return ordered.reverse();
  }
}
