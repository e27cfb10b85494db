import type { EventEmitter } from 'node:events';

/** Another EdgePier node on the site. */
export interface Peer {
  /** Stable node id (random per cache directory), used for ranking and loop detection. */
  readonly id: string;
  /** Base URL of the peer's HTTP API, e.g. `http://198.18.0.2:5000`. */
  readonly url: string;
}

export interface PeerDiscoveryEvents {
  'peer-up': [Peer];
  'peer-down': [Peer];
}

/**
 * How a node learns who its neighbours are and which of them hold a digest.
 * Implementations: mDNS/DNS-SD (multicast on the site LAN), a static list from config,
 * and a composite of both. Discovery never fetches content; it only names candidates.
 */
export interface PeerDiscovery extends EventEmitter<PeerDiscoveryEvents> {
  start(): Promise<void>;
  /** Withdraws this node from the LAN (mDNS goodbyes) and stops listening. */
  close(): Promise<void>;
  /** The live peers, never this node itself. */
  peers(): Peer[];
  /**
   * Peers that hold `digest` committed, as far as the LAN can tell within `timeoutMs`; a
   * discovery without an index (the static list) names every live peer as a candidate.
   * Resolves early once an answer arrives and `firstAnswerOnly` is set. Never rejects: a
   * discovery failure, or a string that is not a digest, is an empty list. A peer still
   * downloading the digest is not a holder; it is found through ownership instead
   * (mirror/blob-mirror.ts says why).
   */
  findHolders(digest: string, options: { timeoutMs: number; firstAnswerOnly?: boolean }): Promise<Peer[]>;
  /** This node now holds `digest`, verified and committed to its cache. */
  advertise(digest: string): void;
  /** This node no longer holds `digest` (evicted, failed download). */
  withdraw(digest: string): void;
}
