import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseDirectory } from '../../config/parse-directory.js';
import { loadOrCreateCertificateAuthority } from '../../transparent/certificate-authority.js';
import { cacheDirectory, parseCommandArgs, UsageError, type CommandArgs } from './command-args.js';
import type { CommandIo } from './prefetch-command.js';

export const CA_USAGE = `usage: edgepier ca export [--out FILE] [--ca-dir DIR] [--cache-dir DIR]

Prints the certificate of the CA that transparent mode (--proxy-listen) issues registry
certificates with, for clients to trust. Creates the CA if serve has not yet. The private
key never leaves --ca-dir (default <cache dir>/ca).`;

export async function runCaCommand(argv: readonly string[], io: CommandIo): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    io.stdout.write(`${CA_USAGE}\n`);
    return 0;
  }
  try {
    const args = parseCommandArgs(argv, { values: ['--out', '--ca-dir', '--cache-dir'] });
    if (args.positionals.length !== 1 || args.positionals[0] !== 'export') throw new UsageError('the only subcommand is: export');
    const directory = caDirectory(args, io.env);
    const { authority, created } = await loadOrCreateCertificateAuthority(directory);
    if (created) io.stderr.write(`edgepier ca: created a new CA in ${directory}\n`);
    const out = args.values.get('--out');
    if (out === undefined) {
      io.stdout.write(authority.certificatePem);
    } else {
      await writeFile(out, authority.certificatePem, { mode: 0o644 });
      // The certificate is public and meant to be copied into trust stores: the private umask of this command does not apply.
      await chmod(out, 0o644);
      io.stderr.write(`edgepier ca: wrote ${out} (SHA-256 ${authority.fingerprintSha256})\n`);
    }
    return 0;
  } catch (error) {
    io.stderr.write(`edgepier ca: ${error instanceof Error ? error.message : String(error)}\n`);
    return error instanceof UsageError ? 2 : 1;
  }
}

/** `--ca-dir`, else EDGEPIER_CA_DIR, else `<cache dir>/ca`: the same place `serve` uses. */
function caDirectory(args: CommandArgs, env: NodeJS.ProcessEnv): string {
  const given = args.values.get('--ca-dir') ?? env.EDGEPIER_CA_DIR;
  if (given === undefined) return join(cacheDirectory(args, env), 'ca');
  const parsed = parseDirectory(given, env);
  if (!parsed.ok) throw new UsageError(`--ca-dir ${parsed.errors.join('; ')}`);
  return parsed.value;
}
