import { canonicalRegistryHost, DOCKER_HUB_HOST } from '../../config/registry-host.js';
import { parseDigest } from '../../oci/digest.js';
import { assertRepositoryName, assertTag, isRegistryHost } from '../../oci/repository-name.js';

/** `[registry/]repository[:tag|@digest]` as a user types it on the command line. */
export interface ImageReference {
  /** Absent: the mirror's default upstream. */
  readonly registry?: string;
  readonly repository: string;
  readonly reference: { readonly kind: 'tag'; readonly tag: string } | { readonly kind: 'digest'; readonly digest: string };
}

/**
 * Parses an image name the way docker does: a first component with a dot, a port or
 * `localhost` is a registry host (Docker Hub's API hosts fold into `docker.io`);
 * `docker.io/nginx` means `docker.io/library/nginx`; no tag
 * means `latest`. Without a registry the name goes to the mirror's default upstream as is.
 */
export function parseImageReference(text: string): ImageReference {
  let rest = text.trim();
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = parseDigest(rest.slice(at + 1)).value;
    rest = rest.slice(0, at);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    assertTag(tag);
    rest = rest.slice(0, colon);
  }
  const slash = rest.indexOf('/');
  const first = slash > 0 ? rest.slice(0, slash) : '';
  let registry: string | undefined;
  if (first && isRegistryHost(first)) {
    registry = canonicalRegistryHost(first);
    rest = rest.slice(slash + 1);
  }
  if (registry === DOCKER_HUB_HOST && !rest.includes('/')) rest = `library/${rest}`;
  assertRepositoryName(rest);
  return {
    ...(registry ? { registry } : {}),
    repository: rest,
    reference: digest ? { kind: 'digest', digest } : { kind: 'tag', tag: tag ?? 'latest' },
  };
}

/** The canonical spelling, used as the pin's name (so `unpin` matches what `prefetch` wrote). */
export function formatImageReference(image: ImageReference): string {
  const name = image.registry ? `${image.registry}/${image.repository}` : image.repository;
  return image.reference.kind === 'digest' ? `${name}@${image.reference.digest}` : `${name}:${image.reference.tag}`;
}
