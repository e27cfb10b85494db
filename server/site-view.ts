import type { Peer } from '../discovery/peer-discovery.js';
import { SUMMARY_LIMITS, type MemberSummary } from '../peer/site-summary.js';
import type { PeerStatus } from './status-peers.js';

/** How this node asks a member (PeerClient on the node; a fake in tests). */
export interface SiteMemberClient {
  fetchSiteSummary(peer: Peer, holds: readonly string[], signal: AbortSignal): Promise<MemberSummary>;
  requestPrefetch(peer: Peer, request: { image: string; pin: boolean }, signal: AbortSignal): Promise<void>;
}

export interface SiteViewOptions {
  /** Whether the site has a key: only then do members exchange summaries. */
  readonly keyed: boolean;
  readonly selfId: () => string;
  readonly selfSummary: (holds: readonly string[]) => Promise<MemberSummary>;
  /** The live members, as discovery sees them. */
  readonly livePeers: () => Peer[];
  /** Every member seen since start, down ones included. */
  readonly knownPeers: () => readonly PeerStatus[];
  readonly client: SiteMemberClient;
  /** Per member, per request: a dead member costs this long and shows as down. */
  readonly timeoutMs: number;
  /** Members asked at most; the rest are counted, not asked. Default 64. */
  readonly maxMembers?: number;
  /** Starts the prefetch on this node itself; resolves the normalised image name. */
  readonly prefetchHere: (image: string, pin: boolean) => string;
}

export interface SiteMember {
  readonly id: string;
  readonly url: string;
  readonly self: boolean;
  readonly state: 'up' | 'down';
  /** Why it shows as down (discovery lost it, or it did not answer). */
  readonly problem?: string;
  /** Absent for a down member, and on an open site for every member but this one. */
  readonly summary?: MemberSummary;
}

/** One image being pulled, and how much of it each member holds. */
export interface SiteImage {
  readonly name: string;
  readonly digest: string;
  readonly layers: number;
  readonly bytes: number;
  /** By member id: committed bytes and bytes arriving in running downloads. */
  readonly members: Readonly<Record<string, { readonly heldBytes: number; readonly heldLayers: number; readonly inflightBytes: number }>>;
}

export interface SiteSnapshot {
  readonly keyed: boolean;
  readonly self: string;
  readonly gatheredAt: string;
  readonly members: readonly SiteMember[];
  readonly images: readonly SiteImage[];
  /** Live members beyond maxMembers, not asked. */
  readonly notAsked: number;
  /** Set on an open site: why the view shows only this node's own figures. */
  readonly note?: string;
}

export interface PrefetchFanout {
  readonly image: string;
  readonly members: ReadonlyArray<{ readonly id: string; readonly accepted: boolean; readonly problem?: string }>;
}

export const OPEN_SITE_NOTE =
  'open site (no site key): members do not exchange summaries, since anyone on the LAN can reach the peer port; ' +
  'only this node\'s own figures and the members discovery names are shown. Give the members a --site-key-file for the site view.';

/**
 * The site view, gathered on demand from every member's summary over the peer API: up or
 * down, what each holds of the images being pulled, what it is fetching, its WAN bytes. Two
 * bounded rounds at most: the first asks about the layers of this node's own images, a
 * second only when other members pull images this node has not seen.
 */
export class SiteView {
  constructor(private readonly options: SiteViewOptions) {}

  async gather(): Promise<SiteSnapshot> {
    const self = await this.options.selfSummary([]);
    const known = new Map(this.options.knownPeers().map((peer) => [peer.id, peer]));
    const live = this.options.livePeers().sort((a, b) => a.id.localeCompare(b.id));
    const asked = this.options.keyed ? live.slice(0, this.options.maxMembers ?? 64) : [];
    const firstHolds = layerDigests(self.images);
    let selfNow = await this.options.selfSummary(firstHolds);
    let answers = await this.askAll(asked, firstHolds);
    const images = mergeImages([selfNow, ...answers.flatMap((answer) => (answer.summary ? [answer.summary] : []))]);
    const allHolds = layerDigests(images);
    if (allHolds.some((digest) => !firstHolds.includes(digest))) {
      // Only those that answered: a member that did not is down, and costs one timeout, not two.
      selfNow = await this.options.selfSummary(allHolds);
      const again = await this.askAll(
        asked.filter((peer) => answers.some((answer) => answer.id === peer.id && answer.summary)),
        allHolds,
      );
      answers = answers.map((answer) => again.find((entry) => entry.id === answer.id) ?? answer);
    }
    const liveIds = new Set(live.map((peer) => peer.id));
    const members: SiteMember[] = [
      { id: selfNow.id, url: '', self: true, state: 'up', summary: selfNow },
      ...answers.map((answer): SiteMember => answer),
      ...(this.options.keyed ? [] : live.map((peer): SiteMember => ({ id: peer.id, url: peer.url, self: false, state: 'up' }))),
      ...[...known.values()]
        .filter((peer) => !liveIds.has(peer.id))
        .map((peer): SiteMember => ({ id: peer.id, url: peer.url, self: false, state: 'down', problem: `gone from discovery since ${peer.since}` })),
    ];
    return {
      keyed: this.options.keyed,
      self: selfNow.id,
      gatheredAt: new Date().toISOString(),
      members,
      images: images.map((image) => progressOf(image, members)),
      notAsked: Math.max(0, live.length - asked.length) * (this.options.keyed ? 1 : 0),
      ...(this.options.keyed ? {} : { note: OPEN_SITE_NOTE }),
    };
  }

  /** Asks this node and every live member to prefetch `image`; the members' answers, refusals included. */
  async prefetch(image: string, pin: boolean): Promise<PrefetchFanout> {
    const name = this.options.prefetchHere(image, pin);
    const selfId = this.options.selfId();
    if (!this.options.keyed) return { image: name, members: [{ id: selfId, accepted: true }] };
    const live = this.options.livePeers().sort((a, b) => a.id.localeCompare(b.id)).slice(0, this.options.maxMembers ?? 64);
    const answers = await Promise.all(
      live.map(async (peer) => {
        try {
          await this.options.client.requestPrefetch(peer, { image: name, pin }, AbortSignal.timeout(this.options.timeoutMs));
          return { id: peer.id, accepted: true };
        } catch (error) {
          return { id: peer.id, accepted: false, problem: describe(error) };
        }
      }),
    );
    return { image: name, members: [{ id: selfId, accepted: true }, ...answers] };
  }

  private askAll(peers: readonly Peer[], holds: readonly string[]): Promise<SiteMember[]> {
    return Promise.all(
      peers.map(async (peer): Promise<SiteMember> => {
        try {
          const summary = await this.options.client.fetchSiteSummary(peer, holds, AbortSignal.timeout(this.options.timeoutMs));
          return { id: peer.id, url: peer.url, self: false, state: 'up', summary };
        } catch (error) {
          return { id: peer.id, url: peer.url, self: false, state: 'down', problem: `no summary: ${describe(error)}` };
        }
      }),
    );
  }
}

interface ImageLayers {
  readonly name: string;
  readonly digest: string;
  readonly layers: ReadonlyArray<{ readonly digest: string; readonly size: number }>;
}

function mergeImages(summaries: readonly MemberSummary[]): ImageLayers[] {
  const images = new Map<string, ImageLayers>();
  for (const summary of summaries) {
    for (const image of summary.images) if (!images.has(image.digest) && images.size < SUMMARY_LIMITS.images) images.set(image.digest, image);
  }
  return [...images.values()];
}

/** The distinct layers of `images`, as many as one holds query may carry. */
function layerDigests(images: readonly ImageLayers[]): string[] {
  const digests = new Set<string>();
  for (const image of images) for (const layer of image.layers) if (digests.size < SUMMARY_LIMITS.holdsQuery) digests.add(layer.digest);
  return [...digests];
}

function progressOf(image: ImageLayers, members: readonly SiteMember[]): SiteImage {
  const byMember: Record<string, { heldBytes: number; heldLayers: number; inflightBytes: number }> = {};
  for (const member of members) {
    const summary = member.summary;
    if (!summary) continue;
    const held = new Set(summary.holds);
    const arriving = new Map(summary.downloads.map((download) => [download.digest, download.receivedBytes]));
    let heldBytes = 0;
    let heldLayers = 0;
    let inflightBytes = 0;
    for (const layer of image.layers) {
      if (held.has(layer.digest)) {
        heldBytes += layer.size;
        heldLayers += 1;
      } else {
        inflightBytes += Math.min(layer.size, arriving.get(layer.digest) ?? 0);
      }
    }
    byMember[member.id] = { heldBytes, heldLayers, inflightBytes };
  }
  return {
    name: image.name,
    digest: image.digest,
    layers: image.layers.length,
    bytes: image.layers.reduce((sum, layer) => sum + layer.size, 0),
    members: byMember,
  };
}

function describe(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).slice(0, 200);
}
