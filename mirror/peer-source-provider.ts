import type { Digest } from '../oci/digest.js';
import type { BlobSource } from './blob-source.js';
import type { RegistryRoute } from './registry-router.js';

/** For whom a download runs: this node's own client, or a peer that asked this node to fetch. */
export interface PeerSourceOptions {
  /** The node that asked us to fetch (it ranks below us); never asked back. */
  readonly forPeer?: string;
}

/**
 * What a peer's request to fetch a digest may make this node do:
 * - `refuse`: the asker does not rank below this node for the digest, so fetching for it
 *   could close a loop; it is answered from local or in-flight content only;
 * - `relay`: fetch through this node's own ancestors (and holders), never upstream;
 * - `owner`: this node tops the digest's tree; it may also fetch upstream, once for the site.
 */
export type RelayRole = 'refuse' | 'relay' | 'owner';

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
  /** How far a fetch that `asker` asked this node to make for `digest` may go. */
  relayRole(digest: Digest, asker: string): RelayRole;
  /** Redirect mode: a peer URL that will serve the blob, if any. */
  redirectTarget(route: RegistryRoute, digest: Digest): Promise<string | undefined>;
  /** A manifest some peer holds, for when upstream cannot be reached. */
  manifestFromPeers(route: RegistryRoute, reference: { tag: string } | { digest: Digest }): Promise<PeerManifestAnswer | undefined>;
}

/** Told when this node starts holding a digest, so the LAN can be told. */
export interface HoldingsListener {
  holding(digest: string): void;
}
