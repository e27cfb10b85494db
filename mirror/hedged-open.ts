import type { Logger } from 'pino';
import { RegistryError } from '../oci/registry-error.js';
import type { UpstreamBlob } from '../upstream/registry-client.js';
import type { BlobSource } from './blob-source.js';

/** `used`: how many sources the opening consumed (the download goes on after them). */
export type SourceOpening = { readonly source: BlobSource; readonly blob: UpstreamBlob; readonly used: number } | { readonly used: number };

export interface HedgeContext {
  readonly digest: string;
  /** 0 turns hedging off. */
  readonly hedgeAfterMs: number;
  /** The download's own: aborting it cancels every request this opening made. */
  readonly signal: AbortSignal;
  readonly logger: Logger;
  /** Told of every source that failed to open, winner or not. */
  readonly onFailure: (source: BlobSource, error: unknown) => void;
}

/**
 * Opens `sources[index]` at `offset`. When it is a peer that has not answered within the
 * hedge delay and the next source is a peer too, that one is asked as well and the first to
 * answer wins (Spegel races peers the same way); the other request is cancelled. Upstream is
 * never raced: a slow owner may be fetching it for the whole site, and asking upstream
 * beside it would spend the WAN the site exists to spare.
 */
export function openHedged(sources: readonly BlobSource[], index: number, offset: number, context: HedgeContext): Promise<SourceOpening> {
  const first = sources[index];
  const second = sources[index + 1];
  if (!first) return Promise.resolve({ used: 1 });
  const { hedgeAfterMs } = context;
  const hedged = hedgeAfterMs > 0 && first.kind === 'peer' && second?.kind === 'peer';
  return new Promise((resolve) => {
    let settled = false;
    let pending = 0;
    let secondStarted = false;
    const cancels = new Map<BlobSource, () => void>();
    const finish = (result: SourceOpening): void => {
      settled = true;
      clearTimeout(timer);
      for (const cancel of cancels.values()) cancel();
      resolve(result);
    };
    const start = (source: BlobSource, used: number): void => {
      pending += 1;
      const controller = new AbortController();
      cancels.set(source, () => controller.abort(new RegistryError('UNAVAILABLE', 'another source answered first')));
      source.open(offset, AbortSignal.any([context.signal, controller.signal])).then(
        (blob) => {
          pending -= 1;
          if (settled) {
            blob.stream.destroy();
            return;
          }
          // The winner's request must live on; only the loser is cancelled.
          cancels.delete(source);
          finish({ source, blob, used });
        },
        (error: unknown) => {
          pending -= 1;
          if (settled) return;
          context.onFailure(source, error);
          if (hedged && !secondStarted) startSecond();
          else if (pending === 0) finish({ used: secondStarted ? 2 : 1 });
        },
      );
    };
    const startSecond = (): void => {
      if (secondStarted || settled || !second) return;
      secondStarted = true;
      clearTimeout(timer);
      context.logger.debug({ digest: context.digest, source: first.name, hedge: second.name }, 'peer slow to answer: asking the next one too');
      start(second, 2);
    };
    const timer = hedged ? setTimeout(startSecond, hedgeAfterMs) : undefined;
    start(first, 1);
  });
}
