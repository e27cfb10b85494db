/**
 * How much to read ahead for one response, from what its client has already taken.
 *
 * A client that never reads still absorbs about 4 MiB on loopback (the kernel's socket
 * buffers, which are not our RSS), so until a client has taken more than that it gets small
 * reads: a stalled connection then holds one small chunk of ours. A client that kept up past
 * it has shown its pace and gets the large reads throughput needs (one thread-pool round trip
 * per read). A client that stalls later holds at most one large chunk until the send timeout
 * cuts it.
 */
export const SMALL_READ_BYTES = 64 * 1024;
/** More than a never-reading client can absorb in kernel buffers (tcp_wmem max 4 MiB). */
export const PROVEN_PACE_BYTES = 8 * 1024 * 1024;

export function pacedReadSize(deliveredBytes: number, largeReadBytes: number): number {
  return deliveredBytes < PROVEN_PACE_BYTES ? Math.min(SMALL_READ_BYTES, largeReadBytes) : largeReadBytes;
}
