import type { Logger } from 'pino';
import type { Peer, PeerDiscovery } from '../discovery/peer-discovery.js';
import type { BlobSource } from '../mirror/blob-source.js';
import type { PeerManifestAnswer, PeerSourceOptions, PeerSourceProvider, RelayRole } from '../mirror/peer-source-provider.js';
import type { RegistryRoute } from '../mirror/registry-router.js';
import type { TagListMemberSource } from '../mirror/tag-list-mirror.js';
import { digestOf, type Digest } from '../oci/digest.js';
import { RegistryError } from '../oci/registry-error.js';
import type { UpstreamBlob } from '../upstream/registry-client.js';
import { fanOut } from './bounded-fan-out.js';
import type { PeerClient } from './peer-client.js';
import type { PeerHealth } from './peer-health.js';
import { REDIRECT_TICKET_TTL_MS, signRedirect, TICKET_EXPIRES_QUERY, TICKET_QUERY } from '../site/redirect-ticket.js';
import type { SiteKey } from '../site/site-key.js';
import { OWNER_FETCH_QUERY, PEER_QUERY } from './peer-protocol.js';
import { rankByRendezvous } from './rendezvous.js';
import { ranksAbove, swarmPlace } from './swarm-tree.js';

/**
 * Site-wide questions (a manifest or tag list while upstream is down) go to this many peers
 * at most, this many at a time: memory is bounded by concurrency × the answer cap (4 MiB
 * manifest, 1 MiB tag list), not by the size of the site.
 */
const FAN_OUT = { concurrency: 8, limit: 32 } as const;
/** Distinct tags kept when merging members' lists. */
const MAX_MERGED_TAGS = 100_000;

export interface SitePeersOptions {
  readonly nodeId: string;
  readonly discovery: PeerDiscovery;
  readonly client: PeerClient;
  readonly health: PeerHealth;
  readonly logger: Logger;
  /** How long to wait for the LAN to name holders of a digest. */
  readonly holderLookupMs: number;
  /** Per-peer limit when asking every peer for a manifest (offline tag resolution). */
  readonly peerTimeoutMs: number;
  /**
   * The site key, when the site has one: peers are then proven members, tags may be taken
   * from them, and redirects carry a ticket signed with it. Without one (an open site) no
   * tag is taken from a peer and content behind credentials is never asked of peers.
   */
  readonly siteKey?: SiteKey;
  /**
   * Children per node in a digest's relay tree (`--swarm-fan-out`): each node uploads at most
   * this many copies of a layer. `Infinity` is the owner-only layout.
   */
  readonly fanOut: number;
  readonly now?: () => number;
}

/**
 * The site LAN as a content source. For a digest, the members form a relay tree in
 * rendezvous order (peer/swarm-tree.ts): a node fetches through its parent, then the next
 * ancestors up to the owner (which fetches upstream once for the whole site), each serving
 * what it has as the bytes arrive; then any node the LAN names as a holder, and only then
 * the caller's upstream.
 */
export class SitePeers implements PeerSourceProvider, TagListMemberSource {
  constructor(private readonly options: SitePeersOptions) {}

  /** The live, healthy peers ranked for `digest`, with this node's own place among them. */
  rank(digest: Digest): { ranked: Peer[]; owner: Peer | undefined; selfIsOwner: boolean } {
    const self: Peer = { id: this.options.nodeId, url: '' };
    const ranked = rankByRendezvous(digest.value, [self, ...this.livePeers()]);
    const first = ranked[0];
    const selfIsOwner = first?.id === self.id;
    return { ranked: ranked.filter((peer) => peer.id !== self.id), owner: selfIsOwner ? undefined : first, selfIsOwner };
  }

  /**
   * This node's ancestors in `digest`'s relay tree among the live, healthy members, nearest
   * first (parent, ..., owner); empty when this node is the owner. A peer that failed is
   * avoided a while, so the tree closes over it: its children fetch through its parent.
   */
  ancestors(digest: Digest): Peer[] {
    const live = this.livePeers();
    const byId = new Map(live.map((peer) => [peer.id, peer]));
    const place = swarmPlace(digest.value, this.options.nodeId, [...byId.keys()], this.options.fanOut);
    return place.ancestors.map((id) => byId.get(id)).filter((peer): peer is Peer => peer !== undefined);
  }

  relayRole(digest: Digest, asker: string): RelayRole {
    if (!ranksAbove(digest.value, this.options.nodeId, asker)) return 'refuse';
    return this.ancestors(digest).length === 0 ? 'owner' : 'relay';
  }

  blobSources(route: RegistryRoute, digest: Digest, options: PeerSourceOptions): Promise<BlobSource[]> {
    // Alone on the LAN: nothing to ask, and no lookup timeout to wait out.
    if (this.options.discovery.peers().length === 0) return Promise.resolve([]);
    if (this.keepsFromPeers(route)) return Promise.resolve([]);
    const ancestors = this.ancestors(digest);
    // The owner asks the member ranked next before it looks further: if the owner was down
    // a while (killed, restarted), that member took over the digest's upstream fetch, and
    // following it (it lets a node ranked above it follow only a download fed by upstream)
    // keeps the WAN crossed once. Normally a miss, one LAN round trip.
    const successor = ancestors.length === 0 ? this.rank(digest).ranked.find((peer) => peer.id !== options.forPeer) : undefined;
    const skip = new Set([this.options.nodeId, ...ancestors.map((peer) => peer.id), options.forPeer, successor?.id]);
    // Ask the LAN now, in parallel with the ancestors: the answer is only awaited if they
    // all fail, so it never sits on the fast path.
    const holders = this.options.discovery
      .findHolders(digest.value, { timeoutMs: this.options.holderLookupMs, firstAnswerOnly: options.forPeer !== undefined })
      .then((found) => found.filter((peer) => !skip.has(peer.id) && !this.options.health.isAvoided(peer.id)));
    holders.catch(() => undefined);
    const target = { registry: route.registry, repository: route.repository, digest };
    // Every ancestor ranks above this node, so asking each to fetch for us climbs the ranking.
    const sources: BlobSource[] = ancestors.map((peer) => this.peerSource(peer, target, true));
    if (successor) sources.push(this.peerSource(successor, target, false));
    sources.push(new HolderSource(holders, this, target));
    return Promise.resolve(sources);
  }

  /**
   * Where redirect mode sends a client: its parent in the digest's relay tree (which fetches
   * through its own ancestors if needed, so the tree's upload spread holds for redirected
   * runtimes too), or, at the owner, a node that holds the blob.
   */
  async redirectTarget(route: RegistryRoute, digest: Digest): Promise<string | undefined> {
    if (this.keepsFromPeers(route)) return undefined;
    // The runtime will talk to the ancestor itself, so this node cannot resume for it: an
    // ancestor that does not answer (killed, say, and not yet gone from mDNS) is skipped and
    // avoided, the way a proxying node would fall back from it.
    for (const ancestor of this.ancestors(digest)) {
      if (await this.options.client.answers(ancestor, AbortSignal.timeout(this.options.peerTimeoutMs))) return this.redirectUrl(ancestor, route, digest, true);
      this.options.health.reportFailure(ancestor.id);
    }
    const holders = await this.options.discovery.findHolders(digest.value, { timeoutMs: this.options.holderLookupMs, firstAnswerOnly: true });
    const holder = holders.find((peer) => peer.id !== this.options.nodeId && !this.options.health.isAvoided(peer.id));
    return holder ? this.redirectUrl(holder, route, digest, false) : undefined;
  }

  private livePeers(): Peer[] {
    return this.options.discovery.peers().filter((peer) => !this.options.health.isAvoided(peer.id));
  }

  /**
   * The URL a runtime is sent to. It speaks plain HTTP to the member's peer port; on a keyed
   * site the URL carries a ticket for this one blob, valid for a minute.
   */
  private redirectUrl(peer: Peer, route: RegistryRoute, digest: Digest, ownerFetch: boolean): string {
    const path = `/v2/${route.repository}/blobs/${digest.value}`;
    const base = peer.url.replace(/^https:/, 'http:');
    const query = new URLSearchParams({ ns: route.registry, [PEER_QUERY]: this.options.nodeId });
    if (ownerFetch) query.set(OWNER_FETCH_QUERY, '1');
    const key = this.options.siteKey;
    if (key !== undefined) {
      const expires = Math.floor(((this.options.now ?? Date.now)() + REDIRECT_TICKET_TTL_MS) / 1000);
      query.set(TICKET_EXPIRES_QUERY, String(expires));
      query.set(TICKET_QUERY, signRedirect(key, { path, registry: route.registry, issuer: this.options.nodeId, ownerFetch, expires }));
    }
    return `${base}${path}?${query.toString()}`;
  }

  /**
   * Asks live peers for a manifest (for a site whose WAN is down; bounded: FAN_OUT) and keeps
   * the answer whose tag mapping was confirmed upstream most recently. Answers by digest
   * are verified; a peer that sends other bytes is avoided.
   */
  async manifestFromPeers(route: RegistryRoute, reference: { tag: string } | { digest: Digest }): Promise<PeerManifestAnswer | undefined> {
    // A tag is not content-addressed: nothing could check a peer's answer, so only proven
    // members are asked.
    if ('tag' in reference && this.options.siteKey === undefined) return undefined;
    if (this.keepsFromPeers(route)) return undefined;
    const peers = this.options.discovery.peers().filter((peer) => !this.options.health.isAvoided(peer.id));
    const referenceText = 'tag' in reference ? reference.tag : reference.digest.value;
    // Only the best answer so far is kept; by digest, the first verified one ends the search.
    let best: PeerManifestAnswer | undefined;
    await fanOut(
      peers,
      FAN_OUT,
      async (peer): Promise<PeerManifestAnswer | undefined> => {
        try {
          const answer = await this.options.client.fetchManifest(
            peer,
            { registry: route.registry, repository: route.repository, reference: referenceText },
            { ownerFetch: false, signal: AbortSignal.timeout(this.options.peerTimeoutMs) },
          );
          const algorithm = 'digest' in reference ? reference.digest.algorithm : 'sha256';
          const digest = digestOf(answer.body, algorithm);
          if ('digest' in reference && digest.value !== reference.digest.value) {
            this.options.health.reportCorrupt(peer.id);
            this.options.logger.warn({ peer: peer.id, digest: reference.digest.value }, 'peer sent a manifest that does not match its digest');
            return undefined;
          }
          return { digest, body: answer.body, mediaType: answer.mediaType, peer: peer.id, ...(answer.resolvedAt ? { resolvedAt: answer.resolvedAt } : {}) };
        } catch {
          return undefined;
        }
      },
      (answer) => {
        if (!best || (answer.resolvedAt ?? 0) > (best.resolvedAt ?? 0)) best = answer;
        return 'digest' in reference;
      },
    );
    return best;
  }

  /**
   * Every member's known tags for a repository, merged: for a node whose WAN is down and that
   * never listed them itself. Members only: a tag list is not content-addressed.
   */
  async tagsFromMembers(route: RegistryRoute): Promise<readonly string[] | undefined> {
    if (this.options.siteKey === undefined) return undefined;
    const peers = this.options.discovery.peers().filter((peer) => !this.options.health.isAvoided(peer.id));
    const seen = new Set<string>();
    await fanOut(
      peers,
      FAN_OUT,
      (peer) =>
        this.options.client
          .fetchTagList(peer, { registry: route.registry, repository: route.repository }, AbortSignal.timeout(this.options.peerTimeoutMs))
          .catch(() => undefined),
      (tags) => {
        for (const tag of tags) if (seen.size < MAX_MERGED_TAGS) seen.add(tag);
        return false;
      },
    );
    const merged = [...seen].sort();
    if (merged.length > 0) this.options.logger.warn({ registry: route.registry, repository: route.repository, tags: merged.length }, 'upstream unreachable; tag list from members (stale)');
    return merged;
  }

  /**
   * On an open site, content this node pulls with credentials is never asked of peers: they
   * could not serve it, and asking would tell the LAN what this node pulls privately.
   */
  private keepsFromPeers(route: RegistryRoute): boolean {
    return route.authenticated && this.options.siteKey === undefined;
  }

  /** A source that streams one blob from one peer. */
  peerSource(peer: Peer, target: { registry: string; repository: string; digest: Digest }, ownerFetch: boolean): BlobSource {
    const { client, health } = this.options;
    return {
      kind: 'peer',
      name: `peer:${peer.id}`,
      open: async (offset, signal) => {
        try {
          return await client.openBlob(peer, target, offset, { ownerFetch, signal });
        } catch (error) {
          // A plain miss is an answer, not a fault; anything else sidelines the peer a while.
          if (!(error instanceof RegistryError && error.code === 'BLOB_UNKNOWN')) health.reportFailure(peer.id);
          throw error;
        }
      },
      reportCorrupt: () => {
        health.reportCorrupt(peer.id);
        this.options.logger.warn({ peer: peer.id, digest: target.digest.value }, 'peer sent bytes that do not match the digest; avoiding it');
      },
    };
  }
}

/**
 * The holders the LAN named, tried one after another until one answers. Its name is the
 * holder in use, so logs and the source header say which peer served.
 */
class HolderSource implements BlobSource {
  readonly kind = 'peer' as const;
  private current: BlobSource | undefined;
  private readonly tried = new Set<string>();

  constructor(
    private readonly holders: Promise<Peer[]>,
    private readonly site: SitePeers,
    private readonly target: { registry: string; repository: string; digest: Digest },
  ) {}

  get name(): string {
    return this.current?.name ?? 'peer:holders';
  }

  async open(offset: number, signal: AbortSignal): Promise<UpstreamBlob> {
    // On a resume, the holder that just broke is not asked again.
    for (const holder of await this.holders) {
      if (this.tried.has(holder.id)) continue;
      this.tried.add(holder.id);
      const source = this.site.peerSource(holder, this.target, false);
      try {
        const opened = await source.open(offset, signal);
        this.current = source;
        return opened;
      } catch {
        // The next holder, if any.
      }
    }
    throw new RegistryError('BLOB_UNKNOWN', 'no peer holds this blob');
  }

  reportCorrupt(): void {
    this.current?.reportCorrupt?.();
  }
}
