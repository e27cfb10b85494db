import type { PeerSourceProvider } from '../mirror/peer-source-provider.js';
import type { TagListMemberSource } from '../mirror/tag-list-mirror.js';
import type { SitePeers } from '../peer/site-peers.js';

/**
 * Lets the mirror be built before discovery exists (which needs the bound port): until the
 * site is attached, there are no peers to ask and nothing is relayed.
 */
export class LazySite implements PeerSourceProvider, TagListMemberSource {
  private site: SitePeers | undefined;

  attach(site: SitePeers): void {
    this.site = site;
  }

  blobSources: PeerSourceProvider['blobSources'] = (route, digest, options) => this.site?.blobSources(route, digest, options) ?? Promise.resolve([]);
  relayRole: PeerSourceProvider['relayRole'] = (digest, asker) => this.site?.relayRole(digest, asker) ?? 'refuse';
  redirectTarget: PeerSourceProvider['redirectTarget'] = (route, digest) => this.site?.redirectTarget(route, digest) ?? Promise.resolve(undefined);
  manifestFromPeers: PeerSourceProvider['manifestFromPeers'] = (route, reference) =>
    this.site?.manifestFromPeers(route, reference) ?? Promise.resolve(undefined);
  tagsFromMembers: TagListMemberSource['tagsFromMembers'] = (route) => this.site?.tagsFromMembers(route) ?? Promise.resolve(undefined);
}
