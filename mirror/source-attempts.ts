import type { Logger } from 'pino';
import { RegistryError } from '../oci/registry-error.js';
import type { BlobSource } from './blob-source.js';

/**
 * What each source of one download said when it failed: logged as it happens, and turned
 * into the one error the client sees when no source could deliver.
 */
export class SourceAttempts {
  private readonly failures: string[] = [];
  private lastError: unknown;

  constructor(
    private readonly digest: string,
    private readonly logger: Logger,
  ) {}

  note(source: BlobSource, error: unknown, offset: number): void {
    this.lastError = error;
    this.failures.push(`${source.name}: ${error instanceof Error ? error.message : String(error)}`);
    // A peer that simply lacks the blob is the normal cold case, not a fault worth a warning.
    const miss = source.kind === 'peer' && error instanceof RegistryError && error.code === 'BLOB_UNKNOWN';
    this.logger[miss ? 'debug' : 'warn'](
      { digest: this.digest, source: source.name, offset, err: describeError(error) },
      miss ? 'no peer had the blob' : 'blob source failed',
    );
  }

  /** Every source was tried: the last one's own error says best what the client should see (404, 504, ...). */
  exhausted(): RegistryError {
    if (this.lastError instanceof RegistryError) return this.lastError;
    return new RegistryError('UPSTREAM_ERROR', `could not download ${this.digest}: ${this.failures.at(-1) ?? 'no source'}`, {
      detail: { attempts: this.failures },
    });
  }
}

/** An error as one log field: its class and message. */
export function describeError(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
