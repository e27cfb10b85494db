/**
 * The commands that write into the cache dir or the CA dir. Their files hold private layers,
 * tags, pins and the CA key: whatever umask the operator's shell or unit has (022 is usual),
 * everything they create is the owner's alone, 0600 files and 0700 directories. `setup` is
 * not here: it writes the runtimes' own config files, which other users may need to read.
 */
export const PRIVATE_FILE_COMMANDS: ReadonlySet<string> = new Set(['serve', 'prefetch', 'unpin', 'cache', 'ca']);

/** Process-wide, so it also covers what libraries create (cacache's content and index files). */
export function restrictNewFileModes(): void {
  process.umask(0o077);
}
