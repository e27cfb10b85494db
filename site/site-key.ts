import { createHash, hkdfSync, randomBytes, timingSafeEqual, createHmac } from 'node:crypto';
import { open, readFile, stat } from 'node:fs/promises';

/** Bytes of randomness in a generated key; also the least a key file must hold. */
const KEY_BYTES = 32;
const KEY_TEXT = /^[A-Za-z0-9+/=_-]+$/;

/** The key file cannot be used; the message says what the operator should do. */
export class SiteKeyProblem extends Error {
  readonly code = 'ESITEKEY';

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SiteKeyProblem';
  }
}

/**
 * The secret the members of a site share. Each use gets its own HKDF-derived key, so a MAC
 * on an mDNS announcement can never be replayed as a TLS key or a redirect ticket.
 */
export class SiteKey {
  /** TLS-PSK key of the peer API (TLS 1.2, ECDHE-PSK). */
  readonly tlsPsk: Buffer;
  private readonly announceKey: Buffer;
  private readonly ticketKey: Buffer;
  /** A short public name of the key, so operators can compare nodes without showing it. */
  readonly fingerprint: string;

  constructor(secret: Buffer) {
    if (secret.length < KEY_BYTES) throw new SiteKeyProblem(`a site key needs at least ${KEY_BYTES} bytes, this one has ${secret.length}`);
    const derive = (purpose: string): Buffer => Buffer.from(hkdfSync('sha256', secret, Buffer.alloc(0), `edgepier site key v1: ${purpose}`, 32));
    this.tlsPsk = derive('peer tls psk');
    this.announceKey = derive('mdns announcement mac');
    this.ticketKey = derive('redirect ticket mac');
    this.fingerprint = createHash('sha256').update(derive('fingerprint')).digest('hex').slice(0, 16);
  }

  /** MAC of an mDNS announcement's fields (base64url, 16 bytes: a packet budget, still 2^128). */
  announcementMac(fields: string): string {
    return createHmac('sha256', this.announceKey).update(fields).digest().subarray(0, 16).toString('base64url');
  }

  verifyAnnouncement(fields: string, mac: string): boolean {
    return equalText(this.announcementMac(fields), mac);
  }

  ticketMac(fields: string): string {
    return createHmac('sha256', this.ticketKey).update(fields).digest('base64url');
  }

  verifyTicket(fields: string, mac: string): boolean {
    return equalText(this.ticketMac(fields), mac);
  }
}

function equalText(expected: string, actual: string): boolean {
  const a = Buffer.from(expected);
  const b = Buffer.from(actual);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** A new key as the text a key file holds (base64 of 32 random bytes, one line). */
export function generateSiteKeyText(): string {
  return `${randomBytes(KEY_BYTES).toString('base64')}\n`;
}

/** Writes a new key file, owner-only from the moment it exists; never overwrites one. */
export async function writeNewSiteKey(path: string): Promise<void> {
  let handle;
  try {
    handle = await open(path, 'wx', 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') throw new SiteKeyProblem(`${path} exists already: a site has one key; remove the file first to replace it on every member`);
    throw error;
  }
  try {
    await handle.writeFile(generateSiteKeyText());
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Reads a key file. Refuses one that others may read or that group or others may write:
 * whoever reads the key is a member of the site. Group read stays allowed because that is
 * how Kubernetes hands a Secret to a non-root container (mode 0440, group = fsGroup).
 */
export async function loadSiteKey(path: string): Promise<SiteKey> {
  let info;
  try {
    info = await stat(path);
  } catch (error) {
    throw new SiteKeyProblem(`cannot read the site key ${path}: ${(error as Error).message}; create one with 'edgepier site-key generate ${path}'`, { cause: error });
  }
  if ((info.mode & 0o027) !== 0) {
    throw new SiteKeyProblem(`${path} is open to others (mode ${(info.mode & 0o777).toString(8)}): run chmod 600 ${path}`);
  }
  const text = (await readFile(path, 'utf8')).trim();
  if (!KEY_TEXT.test(text)) throw new SiteKeyProblem(`${path} does not hold a site key (one line of base64, as 'edgepier site-key generate' writes)`);
  const secret = Buffer.from(text.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
  if (secret.length < KEY_BYTES) throw new SiteKeyProblem(`${path} holds ${secret.length} bytes of key; a site key needs at least ${KEY_BYTES} (use 'edgepier site-key generate')`);
  return new SiteKey(secret);
}
