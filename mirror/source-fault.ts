import { RegistryError } from '../oci/registry-error.js';

/**
 * `slow`: stalled or below the throughput floor. `size`: announced a size other than the
 * blob's known size. Either way the source misbehaved, so the download does not resume from
 * it: it moves on to the next source (a cut connection, by contrast, earns one resume).
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
