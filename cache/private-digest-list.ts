import { appendFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';

const FILE = 'private-digests';
const DIGEST_LINE = /^[a-z0-9]+:[a-f0-9]{32,128}$/;

/**
 * The digests this node fetched with upstream credentials. On an open site (no site key)
 * they are never served to peers: a layer of a private image is private whatever
 * repository name a peer asks for it under. One line per digest, appended, read at start;
 * a torn last line (crash mid-append) is skipped.
 */
export class PrivateDigestList {
  private constructor(
    private readonly digests: Set<string>,
    private readonly path: string | undefined,
  ) {}

  /** A list persisted in `cacheDir`, or held in memory only when `cacheDir` is undefined. */
  static async load(cacheDir: string | undefined): Promise<PrivateDigestList> {
    if (cacheDir === undefined) return new PrivateDigestList(new Set(), undefined);
    const path = join(cacheDir, FILE);
    let text = '';
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    return new PrivateDigestList(new Set(text.split('\n').filter((line) => DIGEST_LINE.test(line))), path);
  }

  isPrivate(digest: string): boolean {
    return this.digests.has(digest);
  }

  async markPrivate(digest: string): Promise<void> {
    if (this.digests.has(digest)) return;
    this.digests.add(digest);
    if (this.path !== undefined) await appendFile(this.path, `${digest}\n`, { mode: 0o600 });
  }
}
