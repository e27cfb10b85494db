import { isIPv4 } from 'node:net';
import type { Peer } from './peer-discovery.js';
import { announcementFields, type AnnouncementSeal } from './announcement-seal.js';
import { addressData, srvData, txtData, type ParsedRecord, type RemoteInfo } from './mdns-wire.js';

/**
 * The live table of `_edgepier._tcp` service instances seen on the LAN, built from the
 * DNS-SD records in every mDNS response (announcements, answers to our browse query,
 * goodbyes). We keep our own table instead of bonjour-service's Browser because the
 * Browser never expires anything (it reads the 28,800 s PTR TTL and `expire()` is never
 * called) and never refreshes `lastSeen`; here an instance lives exactly as long as its
 * SRV record's TTL, is re-queried at 80 % and 90 % of it (RFC 6762 §5.2), and goes at once
 * on a goodbye (TTL 0).
 */
export interface MdnsPresenceOptions {
  readonly selfId: string;
  /** `_edgepier._tcp.local` */
  readonly serviceType: string;
  readonly protocolVersion: string;
  readonly onUp: (peer: Peer) => void;
  readonly onDown: (peer: Peer) => void;
  /** Ask the LAN for one instance's SRV/TXT again (refresh before expiry, or a bare PTR). */
  readonly requery: (instance: string) => void;
  readonly onIncompatible?: (id: string, version: string) => void;
  /** Set on a site with a key: only announcements sealed with it count. */
  readonly membership?: AnnouncementSeal;
  /** `https` when peers speak the keyed peer API. Default `http`. */
  readonly scheme?: 'http' | 'https';
  /** Told once per instance name whose announcement failed the seal (not a member). */
  readonly onForeign?: (fqdn: string, source: string) => void;
}

interface Instance {
  readonly fqdn: string;
  /** Source address of the packet that first named it: whom its table slot is charged to. */
  readonly origin: string;
  readonly firstSeen: number;
  /** Its SRV came again at least CONFIRM_AFTER_MS after it was first seen: it answers. */
  confirmed: boolean;
  id?: string;
  version?: string;
  port?: number;
  target?: string;
  /** Source address of the last packet that carried this instance's SRV: always reachable. */
  source?: string;
  /** On a keyed site: the addresses the member signed; the URL is built from these only. */
  sealedAddresses?: readonly string[];
  expiresAt: number;
  ttlMs: number;
  refreshesSent: number;
}

interface HostAddresses {
  addresses: string[];
  expiresAt: number;
}

// Bound the table so a flood of fake instances cannot grow memory without limit.
const MAX_INSTANCES = 4096;
/**
 * Slots one source address may hold. A host runs one node (a few at most); a flooding host
 * then churns through its own slots only, and an honest newcomer elsewhere finds room.
 */
const MAX_PER_SOURCE = 16;
/** An SRV seen again this long after the first one came from something that answers queries. */
const CONFIRM_AFTER_MS = 1_000;

export class MdnsPresence {
  /** In insertion order, so the first evictable entry found is the oldest one. */
  private readonly instances = new Map<string, Instance>();
  private readonly bySource = new Map<string, Set<string>>();
  private readonly hosts = new Map<string, HostAddresses>();
  private readonly live = new Map<string, { peer: Peer; fqdn: string }>();
  private readonly warnedVersions = new Set<string>();
  /** Instance names whose unsealed announcements were already reported, bounded. */
  private readonly foreign = new Set<string>();

  constructor(private readonly options: MdnsPresenceOptions) {}

  peers(): Peer[] {
    return [...this.live.values()].map((entry) => entry.peer);
  }

  peerById(id: string): Peer | undefined {
    return this.live.get(id)?.peer;
  }

  /** Feeds every record of one response. Records of other services are ignored cheaply. */
  ingest(records: readonly ParsedRecord[], source: RemoteInfo, now: number): void {
    const suffix = `.${this.options.serviceType}`;
    // On a keyed site nothing of an instance is looked at unless its packet carries a TXT
    // sealed with the key: forged announcements never take a table slot or trigger a query.
    const sealed = this.options.membership === undefined ? undefined : this.sealedInstances(records, suffix, source);
    const admitted = (fqdn: string): boolean => sealed === undefined || sealed.has(fqdn);
    const touched = new Set<Instance>();
    // Addresses first, so SRV targets in the same packet resolve.
    const fresh = new Map<string, string[]>();
    for (const record of records) {
      if (record.type !== 'A' && record.type !== 'AAAA') continue;
      const address = addressData(record);
      if (address === undefined || record.ttl === 0) continue;
      const addresses = fresh.get(record.name) ?? [];
      addresses.push(address);
      fresh.set(record.name, addresses);
      const ttlMs = record.ttl * 1000;
      if (!this.hosts.has(record.name) && this.hosts.size >= MAX_INSTANCES) {
        // Full of names: drop the oldest. A peer whose host record goes still has the
        // packet's source address (pickAddress), so this costs an honest peer nothing.
        const oldest = this.hosts.keys().next().value;
        if (oldest !== undefined) this.hosts.delete(oldest);
      }
      this.hosts.set(record.name, { addresses, expiresAt: now + ttlMs });
    }
    for (const record of records) {
      if (record.type === 'PTR' && record.name === this.options.serviceType) {
        const fqdn = typeof record.data === 'string' ? record.data.toLowerCase() : undefined;
        if (fqdn === undefined || !fqdn.endsWith(suffix) || !admitted(fqdn)) continue;
        if (record.ttl === 0) {
          this.remove(fqdn);
        } else if (!this.instances.has(fqdn)) {
          const instance = this.instance(fqdn, now, record.ttl, source.address);
          if (instance !== undefined && !records.some((r) => r.type === 'SRV' && r.name === fqdn)) {
            this.options.requery(fqdn);
          }
        }
      } else if ((record.type === 'SRV' || record.type === 'TXT') && record.name.endsWith(suffix)) {
        if (!admitted(record.name)) continue;
        if (record.ttl === 0) {
          this.remove(record.name);
          continue;
        }
        const instance = this.instance(record.name, now, record.ttl, source.address);
        if (instance === undefined) continue;
        if (record.type === 'SRV') {
          const srv = srvData(record);
          if (srv === undefined) continue;
          if (!instance.confirmed && instance.port !== undefined && now - instance.firstSeen >= CONFIRM_AFTER_MS) instance.confirmed = true;
          instance.port = srv.port;
          instance.target = srv.target;
          instance.source = source.address;
          instance.ttlMs = record.ttl * 1000;
          instance.expiresAt = now + instance.ttlMs;
          instance.refreshesSent = 0;
        } else {
          const txt = txtData(record);
          instance.id = txt.get('id') ?? instance.id;
          instance.version = txt.get('v') ?? instance.version;
          const signed = sealed?.get(record.name);
          if (signed !== undefined) instance.sealedAddresses = signed;
        }
        touched.add(instance);
      }
    }
    for (const instance of touched) this.evaluate(instance);
  }

  /** Expires instances whose TTL lapsed and re-queries those about to. Call about once a second. */
  sweep(now: number): void {
    for (const instance of [...this.instances.values()]) {
      if (now >= instance.expiresAt) {
        this.remove(instance.fqdn);
      } else if (instance.refreshesSent < 2) {
        const refreshAt = instance.expiresAt - instance.ttlMs * (0.2 - 0.1 * instance.refreshesSent);
        if (now >= refreshAt) {
          instance.refreshesSent += 1;
          this.options.requery(instance.fqdn);
        }
      }
    }
    for (const [name, host] of this.hosts) if (now >= host.expiresAt) this.hosts.delete(name);
  }

  /** Forgets everything without emitting (the node itself is shutting down). */
  clear(): void {
    this.instances.clear();
    this.bySource.clear();
    this.hosts.clear();
    this.live.clear();
  }

  private instance(fqdn: string, now: number, ttl: number, origin: string): Instance | undefined {
    const known = this.instances.get(fqdn);
    if (known !== undefined) return known;
    const mine = this.bySource.get(origin);
    if (mine !== undefined && mine.size >= MAX_PER_SOURCE && !this.evictOne(mine)) return undefined;
    if (this.instances.size >= MAX_INSTANCES && !this.evictOne(this.instances.keys())) return undefined;
    const created: Instance = { fqdn, origin, firstSeen: now, confirmed: false, expiresAt: now + ttl * 1000, ttlMs: ttl * 1000, refreshesSent: 0 };
    this.instances.set(fqdn, created);
    const slots = mine ?? new Set<string>();
    slots.add(fqdn);
    this.bySource.set(origin, slots);
    return created;
  }

  /**
   * Makes room for a newcomer, which is neither sealed nor confirmed yet: only an entry that
   * is neither either may go, the oldest first. Sealed members and peers that answered are
   * never pushed out by announcements nobody can vouch for; when nothing may go, the
   * newcomer is refused.
   */
  private evictOne(candidates: Iterable<string>): boolean {
    for (const fqdn of candidates) {
      const instance = this.instances.get(fqdn);
      if (instance === undefined || instance.confirmed || instance.sealedAddresses !== undefined) continue;
      this.remove(fqdn);
      return true;
    }
    return false;
  }

  private evaluate(instance: Instance): void {
    const { id, version, port } = instance;
    if (id === undefined || port === undefined || id === this.options.selfId) return;
    if (version !== this.options.protocolVersion) {
      const key = `${id}/${version ?? ''}`;
      if (!this.warnedVersions.has(key) && this.warnedVersions.size < MAX_INSTANCES) {
        this.warnedVersions.add(key);
        this.options.onIncompatible?.(id, version ?? '');
      }
      return;
    }
    const host = this.pickAddress(instance);
    if (host === undefined) return;
    const url = `${this.options.scheme ?? 'http'}://${isIPv4(host) ? host : `[${host}]`}:${port}`;
    const existing = this.live.get(id);
    if (existing !== undefined && existing.peer.url === url) {
      existing.fqdn = instance.fqdn;
      return;
    }
    if (existing !== undefined) {
      this.live.delete(id);
      this.options.onDown(existing.peer);
    }
    const peer: Peer = { id, url };
    this.live.set(id, { peer, fqdn: instance.fqdn });
    this.options.onUp(peer);
  }

  /**
   * The instances of this packet whose TXT carries a valid seal, with the addresses they
   * signed. The seal covers the instance name, id, version, port and addresses, so a copy
   * replayed from another host still points at the real member.
   */
  private sealedInstances(records: readonly ParsedRecord[], suffix: string, source: RemoteInfo): Map<string, readonly string[]> {
    const membership = this.options.membership;
    const sealed = new Map<string, readonly string[]>();
    if (membership === undefined) return sealed;
    for (const record of records) {
      if (record.type !== 'TXT' || !record.name.endsWith(suffix)) continue;
      const txt = txtData(record);
      const srv = records.find((r) => r.type === 'SRV' && r.name === record.name);
      const port = srv === undefined ? undefined : srvData(srv)?.port;
      const mac = txt.get('mac');
      const fields = announcementFields(record.name, txt.get('id'), txt.get('v'), port, txt.get('a'));
      if (fields !== undefined && mac !== undefined && membership.verify(fields, mac)) {
        sealed.set(record.name, (txt.get('a') ?? '').split(',').filter((address) => address !== ''));
      } else if (!this.foreign.has(record.name) && this.foreign.size < MAX_INSTANCES) {
        this.foreign.add(record.name);
        this.options.onForeign?.(record.name, source.address);
      }
    }
    return sealed;
  }

  /** The A record address the packet came from if it is one, else any IPv4, else the source. */
  private pickAddress(instance: Instance): string | undefined {
    if (instance.sealedAddresses !== undefined) {
      const signed = instance.sealedAddresses;
      if (instance.source !== undefined && signed.includes(instance.source)) return instance.source;
      return signed.find((address) => isIPv4(address)) ?? signed[0];
    }
    const addresses = instance.target === undefined ? [] : (this.hosts.get(instance.target)?.addresses ?? []);
    const v4 = addresses.filter((address) => isIPv4(address));
    if (instance.source !== undefined && v4.includes(instance.source)) return instance.source;
    if (v4[0] !== undefined) return v4[0];
    if (instance.source !== undefined && isIPv4(instance.source)) return instance.source;
    return addresses.find((address) => !address.toLowerCase().startsWith('fe80')) ?? instance.source;
  }

  private remove(fqdn: string): void {
    const instance = this.instances.get(fqdn);
    if (instance === undefined) return;
    this.instances.delete(fqdn);
    const slots = this.bySource.get(instance.origin);
    slots?.delete(fqdn);
    if (slots?.size === 0) this.bySource.delete(instance.origin);
    if (instance.id === undefined) return;
    const entry = this.live.get(instance.id);
    if (entry !== undefined && entry.fqdn === fqdn) {
      this.live.delete(instance.id);
      this.options.onDown(entry.peer);
    }
  }
}
