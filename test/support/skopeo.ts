// skopeo as the real pulling client: copy an image out of a registry (or a mirror) into a
// local `dir:` or `oci:` layout and hand back every manifest and blob it received, by digest.
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCommand } from './run-command.js';
import { sha256Digest } from './sha256.js';

export interface SkopeoCredentials {
  readonly username: string;
  readonly password: string;
}

export interface SkopeoSourceOptions {
  /** Omitted: anonymous (`--src-no-creds`, so no auth file on the machine is consulted). */
  readonly creds?: SkopeoCredentials;
  /** Kill skopeo after this long. Default 60000 ms. */
  readonly timeoutMs?: number;
}

export interface SkopeoCopyOptions extends SkopeoSourceOptions {
  /** Copy every platform of an index (`--all`). Default false: one platform (see overrideArch). */
  readonly all?: boolean;
  /** Picks the platform when `all` is false. Default: skopeo's (the host's) architecture. */
  readonly overrideArch?: 'amd64' | 'arm64';
  /** Destination layout. `dir` (default) keeps manifests byte-for-byte whatever their type. */
  readonly format?: 'dir' | 'oci';
  /** Must not exist yet or be empty. Default: a new temp dir (removed by cleanup()). */
  readonly destDir?: string;
  /** skopeo's own retries. Default 0, so faults surface instead of being retried away. */
  readonly retryTimes?: number;
}

export interface PulledImage {
  readonly dir: string;
  /** sha256 of the top-level manifest (index or image manifest) skopeo stored. */
  readonly topDigest: string;
  /** Every manifest received, by sha256 of its bytes. */
  readonly manifests: ReadonlyMap<string, Buffer>;
  /** Every config and layer received, by digest (verified here). */
  readonly blobs: ReadonlyMap<string, Buffer>;
  cleanup(): Promise<void>;
}

function sourceArgs(options: SkopeoSourceOptions): string[] {
  return [
    '--src-tls-verify=false',
    ...(options.creds ? ['--src-creds', `${options.creds.username}:${options.creds.password}`] : ['--src-no-creds']),
  ];
}

function checked(digest: string, bytes: Buffer, where: string): Buffer {
  const actual = sha256Digest(bytes);
  if (actual !== digest) throw new Error(`${where}: file named ${digest} hashes to ${actual}`);
  return bytes;
}

async function readDirLayout(dir: string): Promise<Omit<PulledImage, 'dir' | 'cleanup'>> {
  const manifests = new Map<string, Buffer>();
  const blobs = new Map<string, Buffer>();
  const top = await readFile(join(dir, 'manifest.json'));
  const topDigest = sha256Digest(top);
  manifests.set(topDigest, top);
  for (const name of await readdir(dir)) {
    const instance = /^([0-9a-f]{64})\.manifest\.json$/.exec(name);
    const blob = /^([0-9a-f]{64})$/.exec(name);
    if (instance?.[1]) {
      const digest = `sha256:${instance[1]}`;
      manifests.set(digest, checked(digest, await readFile(join(dir, name)), dir));
    } else if (blob?.[1]) {
      const digest = `sha256:${blob[1]}`;
      blobs.set(digest, checked(digest, await readFile(join(dir, name)), dir));
    }
  }
  return { topDigest, manifests, blobs };
}

interface JsonDescriptor {
  mediaType?: string;
  digest?: string;
}

async function readOciLayout(dir: string): Promise<Omit<PulledImage, 'dir' | 'cleanup'>> {
  const manifests = new Map<string, Buffer>();
  const blobs = new Map<string, Buffer>();
  const blobPath = (digest: string): string => join(dir, 'blobs', 'sha256', digest.slice('sha256:'.length));
  const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as { manifests?: JsonDescriptor[] };
  const topDigest = index.manifests?.[0]?.digest;
  if (!topDigest) throw new Error(`${dir}: index.json names no manifest`);
  const pending = [topDigest];
  for (let digest = pending.pop(); digest !== undefined; digest = pending.pop()) {
    const bytes = checked(digest, await readFile(blobPath(digest)), dir);
    manifests.set(digest, bytes);
    const parsed = JSON.parse(bytes.toString('utf8')) as { manifests?: JsonDescriptor[]; config?: JsonDescriptor; layers?: JsonDescriptor[] };
    for (const child of parsed.manifests ?? []) if (child.digest) pending.push(child.digest);
    for (const blob of [parsed.config, ...(parsed.layers ?? [])]) {
      if (blob?.digest) blobs.set(blob.digest, checked(blob.digest, await readFile(blobPath(blob.digest)), dir));
    }
  }
  return { topDigest, manifests, blobs };
}

/**
 * `skopeo copy docker://HOST/REF <dir|oci>:DEST` over plain HTTP. `reference` is
 * `repo/name:tag` or `repo/name@sha256:...`. Throws with skopeo's stderr on failure.
 */
export async function skopeoCopyFrom(
  registryHost: string,
  reference: string,
  options: SkopeoCopyOptions = {},
): Promise<PulledImage> {
  const format = options.format ?? 'dir';
  const ownDir = options.destDir === undefined ? await mkdtemp(join(tmpdir(), 'edgepier-pull-')) : undefined;
  const dir = options.destDir ?? join(ownDir ?? '', 'image');
  const cleanup = (): Promise<void> => (ownDir ? rm(ownDir, { recursive: true, force: true }) : Promise.resolve());
  try {
    await runCommand(
      'skopeo',
      [
        '--insecure-policy',
        ...(options.overrideArch ? ['--override-arch', options.overrideArch, '--override-os', 'linux'] : []),
        'copy', '--quiet', '--preserve-digests',
        '--retry-times', String(options.retryTimes ?? 0),
        ...(options.all ? ['--all'] : []),
        ...sourceArgs(options),
        `docker://${registryHost}/${reference}`,
        format === 'dir' ? `dir:${dir}` : `oci:${dir}:pulled`,
      ],
      { timeoutMs: options.timeoutMs ?? 60_000 },
    );
    const content = format === 'dir' ? await readDirLayout(dir) : await readOciLayout(dir);
    return { dir, ...content, cleanup };
  } catch (error) {
    await cleanup();
    throw error;
  }
}

/** `skopeo inspect --raw`: the manifest bytes exactly as the registry served them. */
export async function skopeoInspectRaw(
  registryHost: string,
  reference: string,
  options: SkopeoSourceOptions = {},
): Promise<Buffer> {
  const args = ['--insecure-policy', 'inspect', '--raw', '--retry-times', '0'];
  const tls = ['--tls-verify=false'];
  const creds = options.creds ? ['--creds', `${options.creds.username}:${options.creds.password}`] : ['--no-creds'];
  const { stdout } = await runCommand('skopeo', [...args, ...tls, ...creds, `docker://${registryHost}/${reference}`], {
    timeoutMs: options.timeoutMs ?? 30_000,
  });
  return stdout;
}
