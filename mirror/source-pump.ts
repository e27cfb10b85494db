import { RegistryError } from '../oci/registry-error.js';
import type { UpstreamBlob } from '../upstream/registry-client.js';
import { SourceFault } from './source-fault.js';
import { PaceWatch, type SourcePace } from './source-pace.js';

export interface PumpOptions {
  readonly pace: SourcePace;
  readonly now: () => number;
  /** The download's own: aborting it destroys the source's stream. */
  readonly signal: AbortSignal;
  /** Bytes to drop from the front: a source that ignored our Range starts before the spool's end. */
  readonly skip: number;
  /** How many more bytes the blob can hold (Infinity while its size is unknown). */
  readonly room: () => number;
  /** Takes the next bytes; the source is not blamed for the time this takes. */
  readonly write: (chunk: Buffer) => Promise<void>;
}

/**
 * Reads one opened source into `write`, held to the pace: a source that stalls or trickles
 * is destroyed with a `SourceFault('slow')`. Resolves `'overflowed'` when the source sent
 * more than `room` allowed (what fitted was written, the rest dropped), else `'ended'`.
 * The stream is destroyed when this returns, whatever happened.
 */
export async function pumpSource(name: string, opened: UpstreamBlob, options: PumpOptions): Promise<'ended' | 'overflowed'> {
  let skip = options.skip;
  // Kept aside: the HTTP client wraps whatever error its stream is destroyed with.
  let fault: SourceFault | undefined;
  const watch = new PaceWatch(
    options.pace,
    (slow) => {
      fault = new SourceFault('slow', `${name}: ${slow.message}`);
      opened.stream.destroy(fault);
    },
    options.now,
  );
  const onAbort = (): void => {
    opened.stream.destroy(new RegistryError('UNAVAILABLE', 'download aborted'));
  };
  options.signal.addEventListener('abort', onAbort, { once: true });
  try {
    for await (const piece of opened.stream) {
      let chunk = piece as Buffer;
      watch.received(chunk.length);
      if (skip > 0) {
        const dropped = Math.min(skip, chunk.length);
        skip -= dropped;
        chunk = chunk.subarray(dropped);
        if (chunk.length === 0) continue;
      }
      const room = options.room();
      watch.pause();
      await options.write(room < chunk.length ? chunk.subarray(0, room) : chunk);
      watch.resume();
      if (room < chunk.length) return 'overflowed';
    }
    return 'ended';
  } catch (error) {
    throw fault ?? error;
  } finally {
    watch.stop();
    options.signal.removeEventListener('abort', onAbort);
    opened.stream.destroy();
  }
}
