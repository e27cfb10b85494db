/** The process environment as passed in by the composition root: never read `process.env` here. */
export type Environment = Readonly<Record<string, string | undefined>>;
