import { chmod, writeFile } from 'node:fs/promises';
import { loadOrCreateCertificateAuthority } from '../../transparent/certificate-authority.js';
import { parseCommandArgs, UsageError } from './command-args.js';
import { loadNodeSettings } from './node-settings.js';
import type { CommandIo } from './prefetch-command.js';

export const CA_USAGE = `usage: edgepier ca export [--out FILE] [serve settings: --config FILE, --cache-dir DIR, --ca-dir DIR, ...]

Prints the certificate of the CA that transparent mode (--proxy-listen) issues registry
certificates with, for clients to trust. Creates the CA if serve has not yet. The CA is
the one serve uses: its directory comes from the same flags, EDGEPIER_* and --config
(--ca-dir, default <cache dir>/ca). The private key never leaves it.`;

export async function runCaCommand(argv: readonly string[], io: CommandIo): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    io.stdout.write(`${CA_USAGE}\n`);
    return 0;
  }
  try {
    const args = parseCommandArgs(argv, { values: ['--out'] });
    if (args.positionals.length !== 1 || args.positionals[0] !== 'export') throw new UsageError('the only subcommand is: export');
    const directory = loadNodeSettings(args, io).caDir;
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
