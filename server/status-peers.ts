import type { Peer } from '../discovery/peer-discovery.js';

export interface PeerStatus {
  readonly id: string;
  readonly url: string;
  readonly state: 'up' | 'down';
  /** ISO time of the last transition. */
  readonly since: string;
  /** How many times this peer came up since this node started. */
  readonly upCount: number;
}

/**
 * Every peer this node has seen, with its state and when it last changed. Peers that went
 * down stay listed (most recent first) up to `keepDown`, so a flapping neighbour shows.
 */
export class PeerStates {
  private readonly peers = new Map<string, PeerStatus>();

  constructor(
    private readonly keepDown = 50,
    private readonly now: () => number = Date.now,
  ) {}

  changed(peer: Peer, state: 'up' | 'down'): void {
    const known = this.peers.get(peer.id);
    const upCount = (known?.upCount ?? 0) + (state === 'up' ? 1 : 0);
    this.peers.delete(peer.id);
    this.peers.set(peer.id, { id: peer.id, url: peer.url, state, since: new Date(this.now()).toISOString(), upCount });
    const down = [...this.peers.values()].filter((entry) => entry.state === 'down');
    for (const stale of down.slice(0, Math.max(0, down.length - this.keepDown))) this.peers.delete(stale.id);
  }

  /** Up peers first, then down ones; each group by id. */
  list(): PeerStatus[] {
    return [...this.peers.values()].sort((a, b) => (a.state === b.state ? a.id.localeCompare(b.id) : a.state === 'up' ? -1 : 1));
  }
}
