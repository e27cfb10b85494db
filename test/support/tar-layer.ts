// Deterministic image layers: a ustar archive holding one file of seeded pseudo-random bytes,
// gzipped. Written by hand (no tar CLI) so the bytes depend on nothing but the seed.
import { createCipheriv, createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';

const BLOCK = 512;

/** `size` pseudo-random bytes from `seed` (AES-256-CTR over zeros: fast and reproducible). */
export function seededBytes(seed: string, size: number): Buffer {
  const key = createHash('sha256').update(`key:${seed}`).digest();
  const iv = createHash('sha256').update(`iv:${seed}`).digest().subarray(0, 16);
  const cipher = createCipheriv('aes-256-ctr', key, iv);
  return Buffer.concat([cipher.update(Buffer.alloc(size)), cipher.final()]);
}

function writeField(header: Buffer, offset: number, length: number, value: string): void {
  const bytes = Buffer.from(value, 'utf8');
  if (bytes.length > length) throw new Error(`tar header field too long: ${value}`);
  bytes.copy(header, offset);
}

function octal(value: number, width: number): string {
  // width includes the trailing NUL
  return value.toString(8).padStart(width - 1, '0') + '\0';
}

/** One ustar header block for a regular file. */
export function tarHeader(name: string, size: number, mode = 0o644, mtime = 0): Buffer {
  const header = Buffer.alloc(BLOCK);
  writeField(header, 0, 100, name);
  writeField(header, 100, 8, octal(mode, 8));
  writeField(header, 108, 8, octal(0, 8)); // uid
  writeField(header, 116, 8, octal(0, 8)); // gid
  writeField(header, 124, 12, octal(size, 12));
  writeField(header, 136, 12, octal(mtime, 12));
  header.fill(0x20, 148, 156); // checksum counts as spaces while it is computed
  writeField(header, 156, 1, '0'); // regular file
  writeField(header, 257, 6, 'ustar\0');
  writeField(header, 263, 2, '00');
  writeField(header, 265, 32, 'root');
  writeField(header, 297, 32, 'root');
  let sum = 0;
  for (const byte of header) sum += byte;
  writeField(header, 148, 8, sum.toString(8).padStart(6, '0') + '\0 ');
  return header;
}

/** An uncompressed tar holding `files` in order, with the two zero blocks at the end. */
export function tarArchive(files: readonly { name: string; content: Buffer }[]): Buffer {
  const parts: Buffer[] = [];
  for (const file of files) {
    parts.push(tarHeader(file.name, file.content.length), file.content);
    const pad = (BLOCK - (file.content.length % BLOCK)) % BLOCK;
    if (pad > 0) parts.push(Buffer.alloc(pad));
  }
  parts.push(Buffer.alloc(BLOCK * 2));
  return Buffer.concat(parts);
}

export interface Layer {
  /** The uncompressed tar (its sha256 is the config's diff_id). */
  readonly tar: Buffer;
  /** The gzipped tar (the blob that is pushed and pulled). */
  readonly gzip: Buffer;
}

/** A layer with one file `name` of `size` bytes derived from `seed`. */
export function buildLayer(seed: string, size: number, name: string): Layer {
  const tar = tarArchive([{ name, content: seededBytes(seed, size) }]);
  // zlib writes mtime 0 and no file name in the gzip header, so this is reproducible too.
  return { tar, gzip: gzipSync(tar, { level: 1 }) };
}
