import type { Logger } from 'pino';
import { errorCode } from '../cache/blob-store.js';
import { RegistryError } from '../oci/registry-error.js';
import type { BlobSource } from './blob-source.js';
import { describeError } from './source-attempts.js';
import { SourceFault } from './source-fault.js';

/**
 * Fresh connections upstream gets, beyond the one that broke, when it is the last source left.
 * Each costs at most the stall timeout or the rate window, so a download that fails anyway
 * fails within three of them, and no byte already spooled is asked for again (Range).
 */
export const UPSTREAM_REDIALS = 2;

/**
 * Stream errors that say the path broke, not the content: the broken connection is closed and
 * the next one is another TCP flow (often another CDN edge). Only once bytes flowed on this one.
 */
const PATH_BREAKS: ReadonlySet<string> = new Set([
  'ECONNRESET', // cut mid-body: a middlebox's idle timer, a CDN edge restarting
  'ETIMEDOUT', // the socket went silent past the upstream timeout: a stuck flow, seen by the HTTP client
  'ERR_STREAM_PREMATURE_CLOSE', // the socket closed before the body's end
]);
// Not redialled, because another connection would get the same answer:
// - bytes that fail the digest: the origin serves the same bytes (blob-download.ts starts over
//   with the next source where it can);
// - a size that contradicts the known one: upstream's own header, sent again on every connection;
// - an HTTP error answer: decided by the registry, not the path (the client already retried the
//   transient ones once before any byte, upstream-failure.ts);
// - a cut before any body byte, or a body that ended short without an error: a broken answer
//   rather than a broken path (the download's one resume still covers the short end);
// - our own failures (disk, abort): not upstream's doing.

/** True when `error` is a broken path: too slow (stall or floor), or a transport cut after `progressed` bytes. */
export function isPathBreak(error: unknown, progressed: boolean): boolean {
  if (error instanceof SourceFault) return error.kind === 'slow';
  if (error instanceof RegistryError) return false;
  return progressed && PATH_BREAKS.has(errorCode(error) ?? '');
}

/**
 * The second chance of the last source of a download, when it is upstream: without it a pull
 * fails (504) although a source has the content. One per download, so the bound holds across
 * every attempt; the download stays the digest's only one, so upstream still sees one request
 * at a time for it.
 */
export class UpstreamRedial {
  private redials = 0;
  private readonly breaks: string[] = [];
  private spent: RegistryError | undefined;

  constructor(
    private readonly digest: string,
    private readonly logger: Logger,
    private readonly limit = UPSTREAM_REDIALS,
  ) {}

  /**
   * `source`, the last one left, broke at `offset`. `again`: open it there once more, on a
   * fresh connection (logged as a warning with the reason). `spent`: a path break with no
   * redial left, so the download ends, with `gaveUp` as its error (no other resume: that is
   * what keeps the bound at 1 + limit connections). `not-a-path-break`: not this rule's call.
   */
  decide(source: BlobSource, error: unknown, progressed: boolean, offset: number): 'again' | 'spent' | 'not-a-path-break' {
    if (source.kind !== 'upstream' || !isPathBreak(error, progressed)) return 'not-a-path-break';
    this.breaks.push(`at byte ${offset}: ${describeError(error)}`);
    if (this.redials >= this.limit) {
      this.spent = this.exhausted(source, error);
      return 'spent';
    }
    this.redials += 1;
    this.logger.warn(
      { digest: this.digest, source: source.name, offset, redial: this.redials, of: this.limit, reason: describeError(error) },
      'upstream, the last source left, broke off: resuming on a fresh connection',
    );
    return 'again';
  }

  /** Set once every connection broke off: what the client should see instead of the last break alone. */
  get gaveUp(): RegistryError | undefined {
    return this.spent;
  }

  private exhausted(source: BlobSource, last: unknown): RegistryError {
    const code = last instanceof RegistryError ? last.code : errorCode(last) === 'ETIMEDOUT' ? 'UPSTREAM_TIMEOUT' : 'UPSTREAM_ERROR';
    const message = last instanceof Error ? last.message : String(last);
    return new RegistryError(code, `${source.name} broke off ${this.breaks.length} times for ${this.digest}, resumed on a fresh connection ${this.redials} times (the last break: ${message})`, {
      detail: { digest: this.digest, breaks: this.breaks },
      cause: last,
    });
  }
}
