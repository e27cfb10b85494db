import { parseDigest, type Digest } from './digest.js';
import { RegistryError } from './registry-error.js';
import { isTag } from './repository-name.js';

/** What a `/v2/...` path asks for. The name is raw: which registry it belongs to is decided later. */
export type OciPath =
  | { readonly kind: 'base' }
  | { readonly kind: 'manifest'; readonly name: string; readonly reference: ManifestReference }
  | { readonly kind: 'blob'; readonly name: string; readonly digest: Digest }
  | { readonly kind: 'tags'; readonly name: string }
  | { readonly kind: 'referrers'; readonly name: string; readonly digest: Digest };

export type ManifestReference =
  | { readonly kind: 'tag'; readonly tag: string }
  | { readonly kind: 'digest'; readonly digest: Digest };

/** Longer paths are refused before any parsing: no legitimate pull needs them. */
export const MAX_PATH_LENGTH = 2048;

/**
 * One anchored parser for every pull path. Repository names contain `/`, so the
 * `manifests`/`blobs` keyword is found from the right; everything is validated here,
 * which is the only place raw path text is trusted.
 */
export function parseRequestPath(path: string): OciPath {
  if (path.length > MAX_PATH_LENGTH) throw new RegistryError('PATH_INVALID', `path longer than ${MAX_PATH_LENGTH} bytes`);
  if (path === '/v2' || path === '/v2/') return { kind: 'base' };
  if (!path.startsWith('/v2/')) throw new RegistryError('PATH_INVALID', 'not an OCI distribution path');
  // Percent-encoding, empty or dot segments never appear in valid names, tags or digests;
  // refusing them outright closes every path-traversal spelling at once.
  if (path.includes('%') || path.includes('\\')) throw new RegistryError('NAME_INVALID', 'encoded characters are not allowed in names');
  const segments = path.slice('/v2/'.length).split('/');
  if (segments.some((segment) => segment === '' || segment === '.' || segment === '..')) {
    throw new RegistryError('NAME_INVALID', 'empty or dot path segments are not allowed');
  }
  if (segments.length < 3) throw new RegistryError('PATH_INVALID', 'expected /v2/<name>/(manifests|blobs|referrers)/<reference> or /v2/<name>/tags/list');
  const reference = segments[segments.length - 1] ?? '';
  const keyword = segments[segments.length - 2];
  const name = segments.slice(0, -2).join('/');
  if (keyword === 'blobs') {
    return { kind: 'blob', name, digest: parseDigest(reference) };
  }
  if (keyword === 'manifests') {
    if (reference.includes(':')) return { kind: 'manifest', name, reference: { kind: 'digest', digest: parseDigest(reference) } };
    // The spec's pull workflow answers a reference no manifest can have with 404, like any
    // other unknown one (conformance: `.INVALID_MANIFEST_NAME`).
    if (!isTag(reference)) {
      throw new RegistryError('MANIFEST_UNKNOWN', `manifest unknown: ${shorten(reference)} is not a valid tag`, { detail: { reference: shorten(reference) } });
    }
    return { kind: 'manifest', name, reference: { kind: 'tag', tag: reference } };
  }
  if (keyword === 'tags' && reference === 'list') return { kind: 'tags', name };
  if (keyword === 'referrers') return { kind: 'referrers', name, digest: parseDigest(reference) };
  throw new RegistryError('UNSUPPORTED', `unsupported endpoint: ${keyword ?? ''}`);
}

function shorten(text: string): string {
  return text.length > 80 ? `${text.slice(0, 80)}…` : text;
}
