/** One reason the configuration was refused. The loader returns all of them at once. */
export interface ConfigProblem {
  /** The setting's flag (`--listen`), or its YAML key for settings without a flag, or the offending flag itself. */
  readonly setting: string;
  readonly message: string;
}
