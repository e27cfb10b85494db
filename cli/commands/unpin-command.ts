import { PinFile } from '../../cache/pins.js';
import { parseCommandArgs, UsageError } from './command-args.js';
import { loadNodeSettings } from './node-settings.js';
import { formatImageReference, parseImageReference } from './image-reference.js';
import type { CommandIo } from './prefetch-command.js';

export const UNPIN_USAGE = `usage: edgepier unpin IMAGE[:TAG|@DIGEST] [serve settings: --config FILE, --cache-dir DIR, ...]

Lets eviction take a pinned image again (its blobs stay cached until the budget needs room).`;

export async function runUnpin(argv: readonly string[], io: CommandIo): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    io.stdout.write(`${UNPIN_USAGE}\n`);
    return 0;
  }
  try {
    const args = parseCommandArgs(argv, {});
    if (args.positionals.length !== 1) throw new UsageError('give exactly one IMAGE');
    const image = formatImageReference(parseImageReference(args.positionals[0] ?? ''));
    const removed = await new PinFile(loadNodeSettings(args, io).cacheDir).remove(image);
    if (removed === 0) {
      io.stderr.write(`edgepier unpin: ${image} is not pinned\n`);
      return 1;
    }
    io.stdout.write(`unpinned ${image}\n`);
    return 0;
  } catch (error) {
    io.stderr.write(`edgepier unpin: ${error instanceof Error ? error.message : String(error)}\n`);
    return error instanceof UsageError ? 2 : 1;
  }
}
