/**
 * Every buffer a multi-read response reads into is at least this big, and every way of running
 * the node (the image's ENV, which compose and the DaemonSet run; the systemd unit; `npm start`)
 * sets glibc's MALLOC_MMAP_THRESHOLD_ to it: each buffer is then a mapping of its own, given back to the
 * kernel when freed. Below glibc's threshold the chunks of 1,500 stalled clients were
 * interleaved in its heap with longer-lived allocations and stayed resident after they left
 * (+100 MB over idle); a fixed threshold also stops glibc raising it (its default) until such
 * buffers land in the heap again. Pages of a mapping never written are not resident, so a
 * small read into one costs what it reads.
 */
export const READ_BUFFER_MIN_BYTES = 128 * 1024;
/** What the deploy files put in the node's environment (see READ_BUFFER_MIN_BYTES). */
export const MALLOC_ENVIRONMENT = { MALLOC_MMAP_THRESHOLD_: String(READ_BUFFER_MIN_BYTES) } as const;
