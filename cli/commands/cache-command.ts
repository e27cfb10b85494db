import { collectGarbage } from '../../cache/cache-gc.js';
import { inspectCache, type CachedBlobInfo } from '../../cache/cache-inspector.js';
import { verifyCache } from '../../cache/cache-verify.js';
import { parseDuration } from '../../config/parse-duration.js';
import { parseCommandArgs, UsageError } from './command-args.js';
import { loadNodeSettings } from './node-settings.js';
import type { CommandIo } from './prefetch-command.js';
import { formatBytes } from './progress-reporter.js';

export const CACHE_USAGE = `usage: edgepier cache <ls|stats|verify|gc> [--json] [--min-age DURATION] [serve settings: --config FILE, --cache-dir DIR, ...]

  ls       every cached blob: digest, size, last used, pinned, the tags and pins that reach it
  stats    totals: blobs, bytes, manifests, pinned, tags, spools, disk
  verify   re-hash every blob; remove what is corrupt (the node fetches it again when asked)
  gc       remove spools of interrupted downloads, content no index names, and index
           entries without content. Files younger than --min-age (default 15m) are kept,
           since a running node may be writing them.
The cache directory is serve's: the same flags, EDGEPIER_* and --config decide it.`;

/** Spools and orphans younger than this may belong to a running node's downloads. */
const DEFAULT_GC_MIN_AGE_MS = 15 * 60_000;

export async function runCacheCommand(argv: readonly string[], io: CommandIo): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === '--help' || sub === '-h' || rest.includes('--help')) {
    io.stdout.write(`${CACHE_USAGE}\n`);
    return sub === undefined ? 2 : 0;
  }
  try {
    const args = parseCommandArgs(rest, { values: ['--min-age'], switches: ['--json'] });
    if (args.positionals.length > 0) throw new UsageError(`unexpected argument ${args.positionals[0] ?? ''}`);
    const dir = loadNodeSettings(args, io).cacheDir;
    const json = args.switches.has('--json');
    switch (sub) {
      case 'ls':
        return await list(dir, json, io);
      case 'stats':
        return await stats(dir, json, io);
      case 'verify':
        return await verify(dir, json, io);
      case 'gc':
        return await gc(dir, json, args.values.get('--min-age'), io);
      default:
        throw new UsageError(`unknown cache command '${sub}'`);
    }
  } catch (error) {
    io.stderr.write(`edgepier cache: ${error instanceof Error ? error.message : String(error)}\n`);
    if (error instanceof UsageError) io.stderr.write(`${CACHE_USAGE}\n`);
    return error instanceof UsageError ? 2 : 1;
  }
}

async function list(dir: string, json: boolean, io: CommandIo): Promise<number> {
  const inventory = await inspectCache(dir);
  if (json) {
    io.stdout.write(`${JSON.stringify(inventory.blobs, null, 2)}\n`);
    return 0;
  }
  io.stdout.write('DIGEST                  SIZE        LAST USED             PINNED  REFERENCES\n');
  for (const blob of inventory.blobs) io.stdout.write(`${row(blob)}\n`);
  return 0;
}

function row(blob: CachedBlobInfo): string {
  return [
    blob.digest.slice(0, 19).padEnd(23),
    formatBytes(blob.size).padEnd(11),
    new Date(blob.lastUsed).toISOString().slice(0, 19).replace('T', ' ').padEnd(21),
    (blob.pinned ? 'yes' : 'no').padEnd(7),
    blob.references.join(', ') || '-',
  ].join(' ');
}

async function stats(dir: string, json: boolean, io: CommandIo): Promise<number> {
  const inventory = await inspectCache(dir);
  const sum = (blobs: readonly CachedBlobInfo[]): number => blobs.reduce((total, blob) => total + blob.size, 0);
  const manifests = inventory.blobs.filter((blob) => blob.mediaType !== undefined);
  const pinned = inventory.blobs.filter((blob) => blob.pinned);
  const unreferenced = inventory.blobs.filter((blob) => blob.references.length === 0);
  const result = {
    blobs: inventory.blobs.length,
    bytes: sum(inventory.blobs),
    manifests: manifests.length,
    pinnedBlobs: pinned.length,
    pinnedBytes: sum(pinned),
    pins: inventory.pins,
    tags: inventory.tags,
    unreferencedBlobs: unreferenced.length,
    spools: inventory.spools,
    disk: inventory.disk,
    oldestUse: inventory.blobs.at(-1)?.lastUsed ?? null,
  };
  if (json) {
    io.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    return 0;
  }
  io.stdout.write(
    [
      `blobs        ${result.blobs} (${formatBytes(result.bytes)}), of which ${result.manifests} manifests`,
      `pinned       ${result.pinnedBlobs} blobs (${formatBytes(result.pinnedBytes)}) in ${result.pins} pins`,
      `tags         ${result.tags} known; ${result.unreferencedBlobs} blobs reached by no tag or pin`,
      `spools       ${result.spools.files} files (${formatBytes(result.spools.bytes)})`,
      `disk         ${formatBytes(result.disk.freeBytes)} free of ${formatBytes(result.disk.totalBytes)}`,
      `oldest use   ${result.oldestUse === null ? '-' : new Date(result.oldestUse).toISOString()}`,
    ].join('\n') + '\n',
  );
  return 0;
}

async function verify(dir: string, json: boolean, io: CommandIo): Promise<number> {
  const report = await verifyCache(dir);
  if (json) {
    io.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  } else {
    for (const problem of report.removed) io.stdout.write(`removed ${problem.digest}: ${problem.problem}\n`);
    io.stdout.write(`checked ${report.checked} blobs (${formatBytes(report.bytes)}), removed ${report.removed.length}\n`);
  }
  return report.removed.length > 0 ? 1 : 0;
}

async function gc(dir: string, json: boolean, minAge: string | undefined, io: CommandIo): Promise<number> {
  const minAgeMs = minAge === undefined ? DEFAULT_GC_MIN_AGE_MS : parseMinAge(minAge);
  const report = await collectGarbage(dir, { minAgeMs });
  if (json) {
    io.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    return 0;
  }
  io.stdout.write(
    `removed ${report.staleSpools.files} stale spools (${formatBytes(report.staleSpools.bytes)}), ` +
      `${report.orphans.files} orphaned content files (${formatBytes(report.orphans.bytes)}), ` +
      `${report.danglingEntries} index entries without content\n`,
  );
  return 0;
}

function parseMinAge(text: string): number {
  if (text.trim() === '0') return 0;
  const parsed = parseDuration(text);
  if (!parsed.ok) throw new UsageError(`--min-age ${parsed.errors.join('; ')}`);
  return parsed.value;
}
