import { parseArgs } from 'node:util';
import { generateSiteKeyText, loadSiteKey, writeNewSiteKey } from '../../site/site-key.js';
import type { CommandIo } from './prefetch-command.js';

export const SITE_KEY_USAGE = `usage: edgepier site-key generate [FILE]
       edgepier site-key fingerprint FILE

generate     writes a new random site key to FILE (mode 0600, never over an existing file),
             or prints it when no FILE is given (e.g. into kubectl create secret).
fingerprint  prints a short public name of the key in FILE: members whose fingerprints
             match hold the same key (serve logs it at start too).

Give the same key to every member (--site-key-file FILE / EDGEPIER_SITE_KEY_FILE).`;

export async function runSiteKeyCommand(argv: readonly string[], io: CommandIo): Promise<number> {
  let positionals: string[];
  try {
    ({ positionals } = parseArgs({ args: [...argv], allowPositionals: true, options: { help: { type: 'boolean', short: 'h' } } }));
  } catch (error) {
    io.stderr.write(`edgepier site-key: ${(error as Error).message}\n${SITE_KEY_USAGE}\n`);
    return 2;
  }
  if (argv.includes('--help') || argv.includes('-h')) {
    io.stdout.write(`${SITE_KEY_USAGE}\n`);
    return 0;
  }
  const [action, file, ...extra] = positionals;
  try {
    if (action === 'generate' && extra.length === 0) {
      if (file === undefined) {
        io.stdout.write(generateSiteKeyText());
      } else {
        await writeNewSiteKey(file);
        io.stderr.write(`edgepier site-key: wrote ${file} (fingerprint ${(await loadSiteKey(file)).fingerprint})\n`);
      }
      return 0;
    }
    if (action === 'fingerprint' && file !== undefined && extra.length === 0) {
      io.stdout.write(`${(await loadSiteKey(file)).fingerprint}\n`);
      return 0;
    }
  } catch (error) {
    io.stderr.write(`edgepier site-key: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
  io.stderr.write(`${SITE_KEY_USAGE}\n`);
  return 2;
}
