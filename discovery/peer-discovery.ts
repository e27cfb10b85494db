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
   * Peers that hold `digest` (or are downloading it), as far as the LAN can tell within
   * `timeoutMs`. Resolves early once an answer arrives and `firstAnswerOnly` is set.
   * Never rejects: a discovery failure is an empty list.
   */
  findHolders(digest: string, options: { timeoutMs: number; firstAnswerOnly?: boolean }): Promise<Peer[]>;
  /** This node now holds `digest` (or has started downloading it). */
  advertise(digest: string): void;
  /** This node no longer holds `digest` (evicted, failed download). */
  withdraw(digest: string): void;
}
