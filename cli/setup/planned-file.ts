/** One configuration file `edgepier setup` prints or writes. */
export interface PlannedFile {
  readonly path: string;
  /** The file's new content, given what is there now (undefined: no file yet). */
  render(existing: string | undefined): string;
}
