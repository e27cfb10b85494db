import { fail, ok, quote, type Parsed } from './parsed.js';

/** Fits a DNS label, since the id is announced in mDNS records. */
const NODE_ID = /^[a-zA-Z0-9](?:[a-zA-Z0-9._-]{0,61}[a-zA-Z0-9])?$/;

/** '' (the app generates one and keeps it in the cache directory) or 1-63 letters, digits, `.`, `_`, `-`. */
export function parseNodeId(text: string): Parsed<string> {
  const trimmed = text.trim();
  if (trimmed === '' || NODE_ID.test(trimmed)) return ok(trimmed);
  return fail(`${quote(text)} is not a node id: 1-63 letters, digits, ".", "_" or "-", starting and ending with a letter or digit`);
}
