#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { loadConfig } from '../config/load-config.js';
import { printConfig } from '../config/print-config.js';
import { renderHelp } from '../config/help-text.js';
import { createLogger } from './create-logger.js';
import { EdgePierNode } from './edgepier-node.js';
import { statusCommand } from './commands/status.js';
import { setupCommand } from './setup/setup-command.js';
import { runCacheCommand } from './commands/cache-command.js';
import { runPrefetch } from './commands/prefetch-command.js';
import { runUnpin } from './commands/unpin-command.js';
import { runCaCommand } from './commands/ca-command.js';
import { runSiteKeyCommand } from './commands/site-key-command.js';
import { ensurePrivateDirectory } from '../cache/private-directory.js';
import { PRIVATE_FILE_COMMANDS, restrictNewFileModes } from './private-file-modes.js';
import { exitQuietlyOnBrokenPipe } from './quiet-epipe.js';
import { edgepierVersion } from './version.js';
import { shutdownSignal } from './shutdown-signal.js';

const USAGE = `usage: edgepier <command> [options]

commands:
  serve           run the mirror
  config print    show the effective configuration (secrets masked)
  status          show a running node's peers, cache and recent pulls
  setup RUNTIME   print (or --write) containerd, docker, podman or k3s mirror config, or a systemd unit
  prefetch IMAGE  pull an image into the local node's cache (--pin keeps it)
  unpin IMAGE     let eviction take a pinned image again
  cache CMD       ls | stats | verify | gc on --cache-dir
  ca export       print the transparent-mode CA certificate, for clients to trust
  site-key CMD    generate [FILE] | fingerprint FILE: the key that makes nodes one site

Every command reads the same settings as serve (flags, EDGEPIER_*, --config).
Run 'edgepier serve --help' for them, 'edgepier --version' for the version.`;

/** The CLI: the only place that reads argv and the environment. */
async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return command === undefined ? 2 : 0;
  }
  if (command === '--version' || command === '-v' || command === 'version') {
    process.stdout.write(`edgepier ${edgepierVersion()}\n`);
    return 0;
  }
  if (PRIVATE_FILE_COMMANDS.has(command)) restrictNewFileModes();
  if (command === 'config' && rest[0] === 'print') return printEffectiveConfig(rest.slice(1));
  if (command === 'serve') return serve(rest);
  if (command === 'status') return statusCommand(rest, terminal);
  if (command === 'setup') return setupCommand(rest, terminal);
  if (command === 'prefetch') return runPrefetch(rest, commandIo);
  if (command === 'unpin') return runUnpin(rest, commandIo);
  if (command === 'cache') return runCacheCommand(rest, commandIo);
  if (command === 'ca') return runCaCommand(rest, commandIo);
  if (command === 'site-key') return runSiteKeyCommand(rest, commandIo);
  process.stderr.write(`edgepier: unknown command '${command}'\n${USAGE}\n`);
  return 2;
}

const commandIo = { env: process.env, stdout: process.stdout, stderr: process.stderr };
const terminal = { out: (text: string) => void process.stdout.write(text), err: (text: string) => void process.stderr.write(text) };

function load(args: string[]): ReturnType<typeof loadConfig> | undefined {
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(`${renderHelp()}\n`);
    return undefined;
  }
  const result = loadConfig({ argv: args, env: process.env, readFile: (path) => readFileSync(path, 'utf8') });
  if (!result.ok) {
    process.stderr.write(`edgepier: invalid configuration:\n${result.problems.map((p) => `  ${p.setting}: ${p.message}`).join('\n')}\n`);
  }
  return result;
}

function printEffectiveConfig(args: string[]): number {
  const result = load(args);
  if (!result) return 0;
  if (!result.ok) return 2;
  process.stdout.write(printConfig(result.config));
  return 0;
}

async function serve(args: string[]): Promise<number> {
  const result = load(args);
  if (!result) return 0;
  if (!result.ok) return 2;
  const logger = createLogger(result.config.logLevel);
  const node = new EdgePierNode(result.config, logger);
  // Installed before listening: a SIGTERM while start() runs must still close gracefully.
  const stopped = shutdownSignal((signal) => logger.warn({ signal }, 'already shutting down (in-flight responses get a few seconds)'));
  try {
    const cache = await ensurePrivateDirectory(result.config.cacheDir);
    if (cache.tightenedFrom !== undefined) {
      logger.warn(
        { cacheDir: result.config.cacheDir, was: cache.tightenedFrom.toString(8).padStart(4, '0'), now: '0700' },
        'the cache dir was readable by other users: made it 0700 (files written earlier keep their mode, but nobody else can reach them)',
      );
    }
    await node.start();
  } catch (error) {
    // Whatever did start (the mirror port, say) would otherwise keep a half-started process alive.
    logger.fatal({ err: error }, 'could not start');
    await node.close().catch(() => undefined);
    process.stderr.write(`edgepier: could not start: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
  const signal = await stopped;
  logger.info({ signal }, 'shutting down');
  await node.close().catch((error: unknown) => logger.error({ err: error }, 'shutdown failed'));
  return 0;
}

exitQuietlyOnBrokenPipe(process.stdout);
exitQuietlyOnBrokenPipe(process.stderr);
main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`edgepier: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 1;
  },
);
