export const TABLE_START = '<!-- config-table:start -->';
export const TABLE_END = '<!-- config-table:end -->';

/** The text between the markers (without them), or undefined when they are missing or out of order. */
export function readConfigBlock(readme: string): string | undefined {
  const start = readme.indexOf(TABLE_START);
  const end = readme.indexOf(TABLE_END);
  if (start < 0 || end < start || readme.indexOf(TABLE_START, start + 1) >= 0) return undefined;
  return readme.slice(start + TABLE_START.length, end);
}

/** README with `table` between the markers; everything outside them is kept byte for byte. */
export function replaceConfigBlock(readme: string, table: string): string {
  if (readConfigBlock(readme) === undefined) throw new Error(`README.md needs exactly one ${TABLE_START} … ${TABLE_END} block`);
  const start = readme.indexOf(TABLE_START) + TABLE_START.length;
  const end = readme.indexOf(TABLE_END);
  return `${readme.slice(0, start)}\n${table.endsWith('\n') ? table : `${table}\n`}${readme.slice(end)}`;
}
