/** Exit status of a process that a closed pipe stopped, as shells report SIGPIPE (128 + 13). */
export const EXIT_BROKEN_PIPE = 141;

/**
 * `edgepier prefetch ... | head`: when the reader goes away, stop quietly as other Unix tools
 * do, instead of dying on an unhandled EPIPE with a stack trace.
 */
export function exitQuietlyOnBrokenPipe(stream: NodeJS.WriteStream, exit: (code: number) => void = (code) => process.exit(code)): void {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') exit(EXIT_BROKEN_PIPE);
    else throw error;
  });
}
