import type { ContentSource } from '../mirror/mirror-results.js';
import { parseRequestPath } from '../oci/parse-request-path.js';
import type { RequestFacts } from './request-context.js';

/** Every content source, in the order the status page and metrics list them. */
export const CONTENT_SOURCES: readonly ContentSource[] = ['cache', 'inflight', 'peer', 'upstream'];

/** One finished HTTP request, as the request-log middleware saw it. */
export interface ServedRequest {
  readonly method: string;
  readonly path: string;
  readonly status: number;
  readonly ms: number;
  /** Epoch milliseconds when the response finished. */
  readonly at: number;
  readonly facts: RequestFacts;
  /** containerd's `?ns=` registry host, when given. */
  readonly namespace?: string;
}

/** What a request was for, read from its path with the one OCI path parser. */
export interface RequestTarget {
  readonly kind: 'manifest' | 'blob';
  readonly repository: string;
  readonly reference: string;
}

/** The pulled object, or undefined for anything else (`/v2/`, `/metrics`, bad paths). */
export function requestTarget(request: ServedRequest): RequestTarget | undefined {
  if (!request.path.startsWith('/v2/')) return undefined;
  try {
    const target = parseRequestPath(request.path);
    if (target.kind === 'base') return undefined;
    const repository = request.namespace ? `${request.namespace}/${target.name}` : target.name;
    if (target.kind === 'blob') return { kind: 'blob', repository, reference: target.digest.value };
    const reference = target.reference.kind === 'tag' ? target.reference.tag : target.reference.digest.value;
    return { kind: 'manifest', repository, reference };
  } catch {
    return undefined;
  }
}
