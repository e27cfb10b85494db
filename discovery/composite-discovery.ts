import { EventEmitter } from 'node:events';
import type { Peer, PeerDiscovery, PeerDiscoveryEvents } from './peer-discovery.js';

/**
 * The union of several discoveries (mDNS plus a static list, typically). A node seen by two
 * sources is one peer: entries are deduplicated by id, then by URL (a static entry without
 * an `X-EdgePier-Node` header has its URL as id, yet is the same node mDNS names by id).
 * Earlier sources win, so list the one with the better ids (mDNS) first. Events fire when
 * a peer enters or leaves the union, not when a second source merely confirms it.
 */
export class CompositeDiscovery extends EventEmitter<PeerDiscoveryEvents> implements PeerDiscovery {
  private visible = new Map<string, Peer>();
  private readonly unsubscribe: (() => void)[] = [];

  constructor(private readonly sources: readonly PeerDiscovery[]) {
    super();
  }

  async start(): Promise<void> {
    const recompute = (): void => this.recompute();
    for (const source of this.sources) {
      source.on('peer-up', recompute);
      source.on('peer-down', recompute);
      this.unsubscribe.push(() => {
        source.off('peer-up', recompute);
        source.off('peer-down', recompute);
      });
    }
    const started = await Promise.allSettled(this.sources.map((source) => source.start()));
    const failure = started.find((result): result is PromiseRejectedResult => result.status === 'rejected');
    if (failure !== undefined) {
      await this.close();
      throw failure.reason;
    }
    this.recompute();
  }

  async close(): Promise<void> {
    for (const off of this.unsubscribe.splice(0)) off();
    await Promise.allSettled(this.sources.map((source) => source.close()));
    this.visible = new Map();
  }

  peers(): Peer[] {
    return [...this.visible.values()];
  }

  async findHolders(digest: string, options: { timeoutMs: number; firstAnswerOnly?: boolean }): Promise<Peer[]> {
    const lookups = this.sources.map((source) => source.findHolders(digest, options).catch(() => []));
    if (options.firstAnswerOnly === true) {
      // The first source with an answer wins; sources that find nothing do not end the wait.
      const first = await Promise.any(
        lookups.map(async (lookup) => {
          const found = await lookup;
          if (found.length === 0) throw new Error('none');
          return found;
        }),
      ).catch(() => []);
      return union([first]).slice(0, 1);
    }
    return union(await Promise.all(lookups));
  }

  advertise(digest: string): void {
    for (const source of this.sources) source.advertise(digest);
  }

  withdraw(digest: string): void {
    for (const source of this.sources) source.withdraw(digest);
  }

  private recompute(): void {
    const next = new Map(union(this.sources.map((source) => source.peers())).map((peer) => [peer.id, peer]));
    const previous = this.visible;
    this.visible = next;
    for (const [id, peer] of previous) {
      const now = next.get(id);
      if (now === undefined || now.url !== peer.url) this.emit('peer-down', peer);
    }
    for (const [id, peer] of next) {
      const before = previous.get(id);
      if (before === undefined || before.url !== peer.url) this.emit('peer-up', peer);
    }
  }
}

function union(lists: readonly (readonly Peer[])[]): Peer[] {
  const ids = new Set<string>();
  const urls = new Set<string>();
  const out: Peer[] = [];
  for (const list of lists) {
    for (const peer of list) {
      if (ids.has(peer.id) || urls.has(peer.url)) continue;
      ids.add(peer.id);
      urls.add(peer.url);
      out.push(peer);
    }
  }
  return out;
}
