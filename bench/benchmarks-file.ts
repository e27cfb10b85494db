// Writes one benchmark's results into its own `## <Heading>` section of BENCHMARKS.md, leaving
// every other section as it was (other benchmarks own them).
import { readFile, writeFile } from 'node:fs/promises';

const NOTES = '### Notes';

/**
 * Replaces (or appends) the section headed `heading` (`## Serving`) of `path` with `body`
 * (which has no heading). A `### Notes` subsection, written by hand, is kept at its end.
 */
export async function writeBenchmarkSection(path: string, heading: `## ${string}`, body: string): Promise<void> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    text = '# Benchmarks\n';
  }
  const lines = text.split('\n');
  const start = lines.findIndex((line) => line.trim() === heading);
  if (start === -1) {
    await writeFile(path, `${text.trimEnd()}\n\n${heading}\n\n${body.trim()}\n`);
    return;
  }
  const after = lines.findIndex((line, index) => index > start && /^## /.test(line));
  const end = after === -1 ? lines.length : after;
  const notesAt = lines.findIndex((line, index) => index > start && index < end && line.trim() === NOTES);
  const notes = notesAt === -1 ? '' : `\n${lines.slice(notesAt, end).join('\n').trimEnd()}\n`;
  const section = `${heading}\n\n${body.trim()}\n${notes}`;
  const head = lines.slice(0, start).join('\n');
  const tail = after === -1 ? '' : `\n${lines.slice(after).join('\n')}`;
  await writeFile(path, `${head}${head ? '\n' : ''}${section}${tail}`);
}

/** A markdown table from a header row and data rows. */
export function table(header: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const line = (cells: readonly string[]): string => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}
