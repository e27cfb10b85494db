import { PinFile } from '../../cache/pins.js';
import { parseCommandArgs, UsageError } from './command-args.js';
import { formatImageReference, parseImageReference } from './image-reference.js';
import { parsePlatform, prefetchImage } from './prefetch-image.js';
import { loadNodeSettings } from './node-settings.js';
import { formatBytes, ProgressReporter, type ProgressOutput } from './progress-reporter.js';
import { parseDuration } from '../../config/parse-duration.js';
import { prefetchAcrossSite } from './site-prefetch.js';

export const PREFETCH_USAGE = `usage: edgepier prefetch IMAGE[:TAG|@DIGEST] [--pin] [--platform OS/ARCH[/VARIANT]]
                         [--site [--timeout DURATION]]
                         [--mirror URL] [serve settings: --config FILE, --listen, --cache-dir, ...]

Pulls an image through the running local node so it is cached before a rollout.
  --pin          keep the image: it is never evicted (undo with 'edgepier unpin IMAGE')
  --platform     only this platform of a multi-platform image (default: all)
  --mirror       the node to pull through (default: this host's node, from --listen)
  --site         every member of the site prefetches the image (each layer crosses the WAN
                 once: its owner fetches it, the others follow), with progress per member;
                 members only: a keyed site (--site-key-file), on an open site only this node
  --timeout      with --site: how long every member may take (default 30m)
The node's address and cache directory (where pins are kept) come from the same flags,
EDGEPIER_* and --config as serve's.
A registry host in IMAGE (ghcr.io/org/app) is sent as containerd does (?ns=ghcr.io);
docker.io/nginx means docker.io/library/nginx.`;

export interface CommandIo {
  readonly env: NodeJS.ProcessEnv;
  readonly stdout: ProgressOutput;
  readonly stderr: { write(text: string): unknown };
}

export async function runPrefetch(argv: readonly string[], io: CommandIo): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    io.stdout.write(`${PREFETCH_USAGE}\n`);
    return 0;
  }
  try {
    const args = parseCommandArgs(argv, { values: ['--platform', '--mirror', '--timeout'], switches: ['--pin', '--site'] });
    if (args.positionals.length !== 1) throw new UsageError('give exactly one IMAGE');
    const image = parseImageReference(args.positionals[0] ?? '');
    const platform = args.values.get('--platform');
    const node = loadNodeSettings(args, io, { flag: '--mirror', value: args.values.get('--mirror') });
    const mirror = node.url.href.replace(/\/+$/, '');
    if (args.switches.has('--site')) {
      if (platform !== undefined) throw new UsageError('--platform is not supported with --site (members fetch every platform)');
      return await runSitePrefetch(mirror, formatImageReference(image), args.switches.has('--pin'), args.values.get('--timeout'), io);
    }
    const progress = new ProgressReporter(io.stdout);
    const started = performance.now();
    const result = await prefetchImage({
      image,
      mirror,
      progress,
      ...(platform ? { platform: parsePlatform(platform) } : {}),
      ...(args.switches.has('--pin') ? { pins: new PinFile(node.cacheDir) } : {}),
    });
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    io.stdout.write(
      `${formatImageReference(image)} ${result.digest}: ${result.blobs} blobs, ${formatBytes(result.bytes)} ` +
        `(${result.cached} already cached) in ${seconds} s${args.switches.has('--pin') ? ', pinned' : ''}\n`,
    );
    return 0;
  } catch (error) {
    io.stderr.write(`edgepier prefetch: ${error instanceof Error ? error.message : String(error)}\n`);
    if (error instanceof UsageError) io.stderr.write(`${PREFETCH_USAGE}\n`);
    return error instanceof UsageError ? 2 : 1;
  }
}

async function runSitePrefetch(mirror: string, image: string, pin: boolean, timeout: string | undefined, io: CommandIo): Promise<number> {
  const parsed = parseDuration(timeout ?? '30m', { minMs: 1 });
  if (!parsed.ok) throw new UsageError(`--timeout ${parsed.errors.join('; ')}`);
  const started = performance.now();
  const outcome = await prefetchAcrossSite({ node: mirror, image, pin, timeoutMs: parsed.value, out: (text) => void io.stdout.write(text) });
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  io.stdout.write(`${outcome.image}: ${outcome.done.length} members done${pin ? ' (pinned)' : ''}, ${outcome.failed.length} failed, in ${seconds} s\n`);
  for (const failure of outcome.failed) io.stderr.write(`edgepier prefetch: ${failure.id}: ${failure.problem}\n`);
  return outcome.failed.length === 0 ? 0 : 1;
}
