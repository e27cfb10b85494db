import { EventEmitter } from 'node:events';
import { isSupportedDigest } from './digest-name.js';
import type { Peer, PeerDiscovery, PeerDiscoveryEvents } from './peer-discovery.js';

/**
 * An in-process "site LAN" for tests of the core (like Spegel's MemoryRouter): nodes that
 * join the same MemoryLan see each other and each other's holdings, with no sockets.
 * Events and lookups are delivered asynchronously (next macrotask), as on a network, so
 * code under test cannot come to depend on synchronous delivery.
 */
export class MemoryLan {
  private readonly members = new Map<string, MemoryDiscovery>();

  /** @internal */
  join(node: MemoryDiscovery): void {
    if (this.members.has(node.self.id)) throw new Error(`node id ${node.self.id} already on this LAN`);
    for (const other of this.members.values()) {
      other.notify('peer-up', node.self);
      node.notify('peer-up', other.self);
    }
    this.members.set(node.self.id, node);
  }

  /** @internal */
  leave(node: MemoryDiscovery): void {
    if (this.members.get(node.self.id) !== node) return;
    this.members.delete(node.self.id);
    for (const other of this.members.values()) other.notify('peer-down', node.self);
  }

  /** @internal */
  holders(digest: string, asking: MemoryDiscovery): Peer[] {
    return [...this.members.values()].filter((node) => node !== asking && node.holds(digest)).map((node) => node.self);
  }

}

export interface MemoryDiscoveryOptions {
  readonly lan: MemoryLan;
  readonly nodeId: string;
  /** What peers use to reach this node, e.g. the URL of a test server on port 0. */
  readonly url: string;
}

export class MemoryDiscovery extends EventEmitter<PeerDiscoveryEvents> implements PeerDiscovery {
  readonly self: Peer;
  private readonly held = new Set<string>();
  // What this node has been told, not the LAN's current membership: peers() must agree
  // with the events already emitted, as it does for the real implementations.
  private readonly live = new Map<string, Peer>();
  private state: 'new' | 'running' | 'closed' = 'new';

  constructor(private readonly options: MemoryDiscoveryOptions) {
    super();
    this.self = { id: options.nodeId, url: options.url.replace(/\/+$/, '') };
  }

  start(): Promise<void> {
    if (this.state !== 'new') return Promise.reject(new Error(`MemoryDiscovery cannot start when ${this.state}`));
    this.state = 'running';
    this.options.lan.join(this);
    return Promise.resolve();
  }

  close(): Promise<void> {
    if (this.state === 'running') this.options.lan.leave(this);
    this.state = 'closed';
    this.live.clear();
    return Promise.resolve();
  }

  peers(): Peer[] {
    return this.state === 'running' ? [...this.live.values()] : [];
  }

  findHolders(digest: string, options: { timeoutMs: number; firstAnswerOnly?: boolean }): Promise<Peer[]> {
    if (this.state !== 'running' || !isSupportedDigest(digest)) return Promise.resolve([]);
    const holders = this.options.lan.holders(digest, this);
    // Like the real LAN: with answers the lookup ends early only when asked to; with none
    // the caller waits out its timeout.
    const delay = holders.length > 0 && options.firstAnswerOnly === true ? 0 : Math.max(0, options.timeoutMs);
    const answer = options.firstAnswerOnly === true ? holders.slice(0, 1) : holders;
    return new Promise((resolve) => setTimeout(() => resolve(this.state === 'running' ? answer : []), delay));
  }

  advertise(digest: string): void {
    if (isSupportedDigest(digest)) this.held.add(digest);
  }

  withdraw(digest: string): void {
    this.held.delete(digest);
  }

  /** @internal */
  holds(digest: string): boolean {
    return this.held.has(digest);
  }

  /** @internal */
  notify(event: keyof PeerDiscoveryEvents, peer: Peer): void {
    setImmediate(() => {
      if (this.state !== 'running') return;
      if (event === 'peer-up') this.live.set(peer.id, peer);
      else this.live.delete(peer.id);
      this.emit(event, peer);
    });
  }
}
