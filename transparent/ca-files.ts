import { mkdir, mkdtemp, open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { errorCode, hasCode } from '../cache/blob-store.js';

export const CA_CERTIFICATE_FILE = 'ca.pem';
export const CA_KEY_FILE = 'ca-key.pem';

/** The CA files on disk cannot be used; the message says what the operator should do. */
export class CertificateAuthorityProblem extends Error {
  readonly code = 'ECAPROBLEM';

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CertificateAuthorityProblem';
  }
}

/** The CA certificate and its PKCS#8 private key, both PEM. */
export interface CaFiles {
  readonly certificatePem: string;
  readonly keyPem: string;
}

/** What to tell an operator whose CA directory is beyond repair. */
export function startOverAdvice(directory: string): string {
  return `or remove ${directory} so that EdgePier creates a new CA (every client must then trust the new ${CA_CERTIFICATE_FILE})`;
}

/**
 * Reads the CA from `directory`; undefined when neither file exists yet.
 *
 * Refuses a key that group or others may read or write, as ssh does: a CA key that leaked lets
 * anyone impersonate every registry to the clients that trust it.
 */
export async function readCaFiles(directory: string): Promise<CaFiles | undefined> {
  const certificatePath = join(directory, CA_CERTIFICATE_FILE);
  const keyPath = join(directory, CA_KEY_FILE);
  const [certificatePem, keyPem] = await Promise.all([readUnlessMissing(certificatePath, false), readUnlessMissing(keyPath, true)]);
  if (certificatePem === undefined && keyPem === undefined) return undefined;
  if (certificatePem === undefined) {
    throw new CertificateAuthorityProblem(`${directory} holds ${CA_KEY_FILE} but not ${CA_CERTIFICATE_FILE}: restore ${certificatePath} from a backup, ${startOverAdvice(directory)}`);
  }
  if (keyPem === undefined) {
    throw new CertificateAuthorityProblem(`${directory} holds ${CA_CERTIFICATE_FILE} but not ${CA_KEY_FILE}: restore ${keyPath} from a backup, ${startOverAdvice(directory)}`);
  }
  return { certificatePem, keyPem };
}

/**
 * Creates `directory` holding `files`, all at once or not at all; false when another process
 * created it first (the caller then reads theirs).
 *
 * The files are written into a fresh sibling directory (mkdtemp makes it 0700, the key is
 * opened 0600, so the key is never readable by others, not even for a moment) and synced,
 * then that directory is renamed to `directory`. A rename onto a directory that already has
 * files fails, so of two processes starting at once exactly one CA wins and nobody ever
 * reads half-written files.
 */
export async function writeCaFilesAtomically(directory: string, files: CaFiles): Promise<boolean> {
  const parent = dirname(directory);
  await mkdir(parent, { recursive: true });
  const staging = await mkdtemp(join(parent, `.${basename(directory)}.tmp-`));
  let renamed = false;
  try {
    await writeSynced(join(staging, CA_CERTIFICATE_FILE), files.certificatePem, 0o644);
    await writeSynced(join(staging, CA_KEY_FILE), files.keyPem, 0o600);
    await syncDirectory(staging);
    try {
      await rename(staging, directory);
    } catch (error) {
      if (hasCode(error, 'EEXIST') || hasCode(error, 'ENOTEMPTY')) return false;
      throw error;
    }
    renamed = true;
    await syncDirectory(parent);
    return true;
  } finally {
    if (!renamed) await rm(staging, { recursive: true, force: true });
  }
}

async function readUnlessMissing(path: string, isPrivate: boolean): Promise<string | undefined> {
  let file;
  try {
    file = await open(path, 'r');
  } catch (error) {
    if (hasCode(error, 'ENOENT')) return undefined;
    throw new CertificateAuthorityProblem(`cannot open ${path} (${errorCode(error) ?? String(error)})`, { cause: error });
  }
  try {
    // Checked on the open file, so a chmod between the check and the read changes nothing.
    const stats = await file.stat();
    if (!stats.isFile()) throw new CertificateAuthorityProblem(`${path} is not a regular file`);
    const exposedBits = stats.mode & 0o077;
    if (isPrivate && exposedBits !== 0) {
      const mode = (stats.mode & 0o777).toString(8).padStart(4, '0');
      throw new CertificateAuthorityProblem(
        `${path} has mode ${mode}, so other users may read or change the CA key: run "chmod 600 ${path}" (and check nobody copied it), ${startOverAdvice(dirname(path))}`,
      );
    }
    return await file.readFile('utf8');
  } catch (error) {
    if (error instanceof CertificateAuthorityProblem) throw error;
    throw new CertificateAuthorityProblem(`cannot read ${path} (${errorCode(error) ?? String(error)})`, { cause: error });
  } finally {
    await file.close();
  }
}

async function writeSynced(path: string, text: string, mode: number): Promise<void> {
  const file = await open(path, 'wx', mode);
  try {
    await file.writeFile(text, 'utf8');
    await file.sync();
  } finally {
    await file.close();
  }
}

/** Makes the names in `path` durable. Best effort: some filesystems refuse fsync on a directory. */
async function syncDirectory(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync().catch(() => undefined);
  } finally {
    await handle.close();
  }
}
