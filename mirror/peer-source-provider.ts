import type { Digest } from '../oci/digest.js';
import type { BlobSource } from './blob-source.js';
import type { RegistryRoute } from './registry-router.js';

/**
 * Which neighbours a download may use: `all` (the owner, then holders) for a local
 * client's request; `holders` only, when this node is serving an owner fetch.
 */
export interface PeerSourceOptions {
  readonly peers: 'all' | 'holders';
  /** The node that asked us; never asked back. */
  readonly exclude?: string;
}

/** A manifest a neighbour sent, already checked against its digest. */
export interface PeerManifestAnswer {
  readonly digest: Digest;
  readonly body: Buffer;
  readonly mediaType: string;
  readonly resolvedAt?: number;
  /** The id of the member that answered. */
  readonly peer: string;
}

/** The site LAN as seen by the core (implemented by peer/SitePeers). */
export interface PeerSourceProvider {
  /** Sources on the LAN for a digest, best first; the mirror tries them before upstream. */
  blobSources(route: RegistryRoute, digest: Digest, options: PeerSourceOptions): Promise<BlobSource[]>;
  /** Redirect mode: a peer URL that will serve the blob, if any. */
  redirectTarget(route: RegistryRoute, digest: Digest): Promise<string | undefined>;
  /** A manifest some peer holds, for when upstream cannot be reached. */
  manifestFromPeers(route: RegistryRoute, reference: { tag: string } | { digest: Digest }): Promise<PeerManifestAnswer | undefined>;
}

/** Told when this node starts holding a digest, so the LAN can be told. */
export interface HoldingsListener {
  holding(digest: string): void;
}
