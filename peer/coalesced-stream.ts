import { Transform, type Readable } from 'node:stream';

/** What a download step should see at least: plain TCP reads deliver about this much. */
const COALESCE_BYTES = 64 * 1024;

/**
 * A TLS socket yields one 16 KiB record per chunk, four times as many as plain TCP, and every
 * chunk costs the download a hash update, a spool write and a reader wake-up. This joins them
 * into 64 KiB pieces. What is held back when the source breaks was never written, so the
 * download resumes from the last written byte as it would anyway.
 */
export function coalesced(source: Readable): Readable {
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  const joined = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      pending.push(chunk);
      pendingBytes += chunk.length;
      if (pendingBytes >= COALESCE_BYTES) {
        const piece = Buffer.concat(pending, pendingBytes);
        pending = [];
        pendingBytes = 0;
        done(null, piece);
        return;
      }
      done();
    },
    flush(done) {
      done(null, pendingBytes > 0 ? Buffer.concat(pending, pendingBytes) : null);
    },
  });
  source.on('error', (error) => joined.destroy(error));
  joined.on('close', () => source.destroy());
  return source.pipe(joined);
}
