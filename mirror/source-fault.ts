import { RegistryError } from '../oci/registry-error.js';

/**
 * `slow`: stalled or below the throughput floor. `size`: announced a size other than the
 * blob's known size. Either way the source misbehaved, so the download does not resume from
 * it: it moves on to the next source (a cut connection, by contrast, earns one resume). The
 * exception is a slow upstream that is the last source: it gets a fresh connection or two
 * (upstream-redial.ts), since failing the pull is worse.
 */
export type SourceFaultKind = 'slow' | 'size';

export class SourceFault extends RegistryError {
  constructor(
    readonly kind: SourceFaultKind,
    message: string,
  ) {
    super(kind === 'slow' ? 'UPSTREAM_TIMEOUT' : 'UPSTREAM_ERROR', message);
  }
}
