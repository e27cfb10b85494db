import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { isIPv4 } from 'node:net';
import Bonjour, { type Service } from 'bonjour-service';
import { pino, type Logger } from 'pino';
import { BLOB_NAME_SUFFIX, digestToMdnsName } from './digest-name.js';
import { announcementFields, type AnnouncementSeal } from './announcement-seal.js';
import { MdnsPresence } from './mdns-presence.js';
import {
  isMulticastDns,
  queryQuestions,
  responseRecords,
  srvData,
  txtData,
  type MulticastDns,
  type OutgoingRecord,
  type RemoteInfo,
} from './mdns-wire.js';
import type { Peer, PeerDiscovery, PeerDiscoveryEvents } from './peer-discovery.js';

export interface MdnsDiscoveryOptions {
  /** This node's id (TXT `id=`); answers carrying it are ours and ignored. */
  readonly nodeId: string;
  /** The HTTP port peers should use (SRV port). */
  readonly port: number;
  readonly logger?: Logger;
  /**
   * IPv4 address of the site LAN interface. When set, multicast is joined and sent on that
   * interface only and it is the only address advertised. Unset: every interface, and the
   * IPv4 addresses of all of them (at most 4) are advertised.
   */
  readonly interfaceAddress?: string;
  /** TTL of the presence records; a silent peer is dropped after it. Default 120 (RFC 6762 §10). */
  readonly ttlSeconds?: number;
  /** UDP port of mDNS; only tests change it. Default 5353. */
  readonly mdnsPort?: number;
  /**
   * On a site with a key: announcements are sealed with it, and only sealed announcements
   * of other members enter the peer table (and so the owner ranking). Peers are then `https`.
   */
  readonly membership?: AnnouncementSeal;
}

export const SERVICE_TYPE = '_edgepier._tcp.local';
export const PROTOCOL_VERSION = '1';

const DEFAULT_TTL_SECONDS = 120;
// Nobody caches holdings (each lookup asks the LAN afresh), so keep foreign caches short too.
const BLOB_ANSWER_TTL_SECONDS = 10;
// Answers per response packet: each is ~250 bytes, so 4 keep a packet far below 1,500 bytes.
const ANSWERS_PER_PACKET = 4;
// Questions looked at per query: bounds the work one (possibly hostile) packet can cause.
const MAX_QUESTIONS = 32;
const MAX_ADVERTISED_ADDRESSES = 4;
const CLOSE_STEP_TIMEOUT_MS = 1000;
const READY_TIMEOUT_MS = 5000;

interface PendingLookup {
  readonly found: Map<string, Peer>;
  readonly firstAnswerOnly: boolean;
  finish(): void;
}

/**
 * Peers and holdings over mDNS / DNS-SD.
 *
 * Presence: bonjour-service publishes `<instance>._edgepier._tcp.local` (SRV port, TXT
 * `id=<nodeId>` `v=1`, A records of the node), we re-announce every TTL/2 and track the
 * others in an {@link MdnsPresence} table.
 *
 * Holdings: the LAN is the index. A node answers a query for
 * `<base32 hash>.<algorithm>._edgepier-blob.local` (see digest-name.ts) with an SRV
 * (target host, HTTP port) and a TXT (`id=`, `v=`) under that name, but only while it holds
 * the digest, so the answer is as fresh as the in-memory set: advertise() and withdraw()
 * take effect for the very next query. Both share bonjour-service's multicast socket.
 */
export class MdnsDiscovery extends EventEmitter<PeerDiscoveryEvents> implements PeerDiscovery {
  private readonly logger: Logger;
  private readonly ttlSeconds: number;
  private readonly instanceLabel: string;
  private readonly hostName: string;
  private readonly held = new Set<string>();
  private readonly pending = new Map<string, Set<PendingLookup>>();
  private readonly presence: MdnsPresence;
  private readonly timers: NodeJS.Timeout[] = [];
  private bonjour: Bonjour | undefined;
  private mdns: MulticastDns | undefined;
  private service: Service | undefined;
  private state: 'new' | 'starting' | 'running' | 'closed' = 'new';
  private closing: Promise<void> | undefined;

  constructor(private readonly options: MdnsDiscoveryOptions) {
    super();
    if (options.nodeId.length === 0 || options.nodeId.length > 200 || options.nodeId.includes('=')) {
      throw new TypeError(`invalid nodeId ${JSON.stringify(options.nodeId)}`);
    }
    if (!Number.isInteger(options.port) || options.port <= 0 || options.port > 65535) {
      throw new TypeError(`invalid port ${options.port}`);
    }
    if (options.interfaceAddress !== undefined && !isIPv4(options.interfaceAddress)) {
      throw new TypeError(`interfaceAddress must be an IPv4 address, got ${options.interfaceAddress}`);
    }
    this.logger = (options.logger ?? pino({ enabled: false })).child({ component: 'mdns-discovery' });
    this.ttlSeconds = Math.max(1, Math.round(options.ttlSeconds ?? DEFAULT_TTL_SECONDS));
    const label = dnsLabel(options.nodeId);
    this.instanceLabel = `edgepier-${label}`.slice(0, 63);
    // Our own host name: in containers and network namespaces every node may share the
    // machine's hostname, and A records under one name would then mix addresses.
    this.hostName = `ep-${label}.local`;
    this.presence = new MdnsPresence({
      selfId: options.nodeId,
      serviceType: SERVICE_TYPE,
      protocolVersion: PROTOCOL_VERSION,
      onUp: (peer) => {
        this.logger.info({ peer: peer.id, url: peer.url }, 'peer up');
        this.emit('peer-up', peer);
      },
      onDown: (peer) => {
        this.logger.info({ peer: peer.id, url: peer.url }, 'peer down');
        this.emit('peer-down', peer);
      },
      requery: (instance) => this.mdns?.query({ questions: [{ name: instance, type: 'ANY' }] }, this.onSendError),
      onIncompatible: (id, version) => this.logger.warn({ peer: id, version }, 'ignoring peer with another protocol version'),
      ...(options.membership
        ? {
            membership: options.membership,
            scheme: 'https' as const,
            onForeign: (fqdn: string, source: string) =>
              this.logger.warn({ instance: fqdn.slice(0, 128), source }, 'ignoring an EdgePier announcement without this site\'s key'),
          }
        : {}),
    });
  }

  async start(): Promise<void> {
    if (this.state !== 'new') throw new Error(`MdnsDiscovery cannot start when ${this.state}`);
    this.state = 'starting';
    const socketOptions: Record<string, unknown> = { reuseAddr: true, port: this.options.mdnsPort ?? 5353 };
    if (this.options.interfaceAddress !== undefined) {
      // Bind the wildcard address: a socket bound to a unicast address does not receive
      // multicast on Linux. `interface` still selects where we join and send.
      socketOptions.interface = this.options.interfaceAddress;
      socketOptions.bind = '0.0.0.0';
    }
    // bonjour-service hands these options straight to multicast-dns.
    const bonjour = new Bonjour(socketOptions, (error: unknown) =>
      this.logger.warn({ err: error }, 'mdns send failed'),
    );
    this.bonjour = bonjour;
    const mdns = (bonjour as unknown as { server?: { mdns?: unknown } }).server?.mdns;
    if (!isMulticastDns(mdns)) {
      await this.close();
      throw new Error('bonjour-service no longer exposes its multicast-dns instance (server.mdns)');
    }
    this.mdns = mdns;
    // multicast-dns emits 'error' for bind failures: without a listener that would throw.
    mdns.on('error', (error) => this.logger.error({ err: error }, 'mdns socket error'));
    mdns.on('warning', (error) => this.logger.debug({ err: error }, 'mdns warning (malformed packet or interface change)'));
    mdns.on('query', (packet, rinfo) => this.guard(() => this.onQuery(packet, rinfo)));
    mdns.on('response', (packet, rinfo) => this.guard(() => this.onResponse(packet, rinfo)));
    try {
      await waitReady(mdns);
    } catch (error) {
      await this.close();
      throw error;
    }
    if (this.isClosed()) return; // close() was called while the socket was binding

    this.service = this.publish(bonjour);
    this.browse();
    this.every(Math.min(1000, this.ttlSeconds * 250), () => this.presence.sweep(Date.now()));
    this.every((this.ttlSeconds * 1000) / 2, () => this.reannounce());
    this.state = 'running';
  }

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  peers(): Peer[] {
    return this.state === 'running' ? this.presence.peers() : [];
  }

  findHolders(digest: string, options: { timeoutMs: number; firstAnswerOnly?: boolean }): Promise<Peer[]> {
    const name = digestToMdnsName(digest);
    const mdns = this.mdns;
    if (name === undefined || mdns === undefined || this.state === 'closed' || this.state === 'new') {
      return Promise.resolve([]);
    }
    return new Promise<Peer[]>((resolve) => {
      const found = new Map<string, Peer>();
      const lookups = this.pending.get(name) ?? new Set<PendingLookup>();
      this.pending.set(name, lookups);
      const timeoutMs = Math.max(0, options.timeoutMs);
      const ask = (): void => mdns.query({ questions: [{ name, type: 'SRV' }] }, this.onSendError);
      // One retransmission a third into the wait, in case the query or an answer was lost.
      const retry = timeoutMs >= 300 ? setTimeout(() => found.size === 0 && ask(), timeoutMs / 3) : undefined;
      const lookup: PendingLookup = {
        found,
        firstAnswerOnly: options.firstAnswerOnly === true,
        finish: () => {
          clearTimeout(timer);
          clearTimeout(retry);
          lookups.delete(lookup);
          if (lookups.size === 0 && this.pending.get(name) === lookups) this.pending.delete(name);
          resolve([...found.values()]);
        },
      };
      const timer = setTimeout(() => lookup.finish(), timeoutMs);
      lookups.add(lookup);
      try {
        ask();
      } catch (error) {
        this.logger.warn({ err: error, digest }, 'holder query failed');
        lookup.finish();
      }
    });
  }

  advertise(digest: string): void {
    const name = digestToMdnsName(digest);
    if (name === undefined) {
      this.logger.warn({ digest }, 'not advertising an unsupported digest');
      return;
    }
    this.held.add(name);
  }

  withdraw(digest: string): void {
    const name = digestToMdnsName(digest);
    if (name !== undefined) this.held.delete(name);
  }

  private publish(bonjour: Bonjour): Service {
    const service = bonjour.publish({
      name: this.instanceLabel,
      type: 'edgepier',
      protocol: 'tcp',
      port: this.options.port,
      host: this.hostName,
      txt: { id: this.options.nodeId, v: PROTOCOL_VERSION },
      // Probing makes bonjour-service wait ~1 s before its first announcement, which is also
      // what lets us swap in our record builder below before records() is first called.
      probe: true,
    });
    const build = service.records.bind(service);
    service.records = () => this.presenceRecords(build());
    return service;
  }

  /**
   * bonjour-service's records with our TTL, and only a few addresses: it lists every
   * interface (each container veth adds an IPv6 link-local AAAA), which on a busy host
   * would push the announcement past 1,500 bytes.
   */
  private presenceRecords(records: ReturnType<Service['records']>): ReturnType<Service['records']> {
    const wanted = this.options.interfaceAddress;
    const v4 = records.filter((record) => record.type === 'A' && (wanted === undefined || record.data === wanted));
    const v6 = records.filter((record) => record.type === 'AAAA' && wanted === undefined);
    const addresses = (v4.length > 0 ? v4 : v6).slice(0, MAX_ADVERTISED_ADDRESSES);
    if (wanted !== undefined && addresses.length === 0) {
      addresses.push({ name: this.hostName, type: 'A', ttl: this.ttlSeconds, data: wanted });
    }
    const others = records.filter((record) => record.type !== 'A' && record.type !== 'AAAA');
    const membership = this.options.membership;
    const sealed = membership === undefined ? others : others.map((record) => (record.type === 'TXT' ? this.sealedTxt(record, addresses, membership) : record));
    return [...sealed, ...addresses].map((record) => ({ ...record, ttl: this.ttlSeconds }));
  }

  /** Our TXT with the signed address list and the seal over what peers will act on. */
  private sealedTxt<R extends { name: string; data?: unknown }>(record: R, addresses: ReadonlyArray<{ data?: unknown }>, membership: AnnouncementSeal): R {
    const list = addresses.map((address) => String(address.data)).join(',');
    const fields = announcementFields(record.name, this.options.nodeId, PROTOCOL_VERSION, this.options.port, list) ?? '';
    return { ...record, data: [`id=${this.options.nodeId}`, `v=${PROTOCOL_VERSION}`, `a=${list}`, `mac=${membership.seal(fields)}`] };
  }

  private browse(): void {
    const query = (): void => this.mdns?.query({ questions: [{ name: SERVICE_TYPE, type: 'PTR' }] }, this.onSendError);
    query();
    // Repeat twice (RFC 6762 §5.2 spacing) so one lost answer does not hide a peer until
    // its next re-announcement.
    for (const delay of [1000, 3000]) {
      const timer = setTimeout(query, delay);
      timer.unref();
      this.timers.push(timer);
    }
  }

  /** Keeps our records alive in every peer's table without them having to query. */
  private reannounce(): void {
    const service = this.service;
    if (service === undefined || !service.published || this.mdns === undefined) return;
    this.mdns.respond({ answers: service.records() }, undefined, this.onSendError);
  }

  private onQuery(packet: unknown, rinfo: RemoteInfo): void {
    const mdns = this.mdns;
    if (mdns === undefined || this.state !== 'running') return;
    const answers: OutgoingRecord[] = [];
    for (const question of queryQuestions(packet).slice(0, MAX_QUESTIONS)) {
      if (!question.name.endsWith(BLOB_NAME_SUFFIX)) continue;
      if (question.type !== 'SRV' && question.type !== 'ANY') continue;
      if (!this.held.has(question.name)) continue;
      answers.push(
        { name: question.name, type: 'SRV', ttl: BLOB_ANSWER_TTL_SECONDS, data: { priority: 0, weight: 0, port: this.options.port, target: this.hostName } },
        { name: question.name, type: 'TXT', ttl: BLOB_ANSWER_TTL_SECONDS, data: [`id=${this.options.nodeId}`, `v=${PROTOCOL_VERSION}`] },
      );
    }
    // A query from a port other than 5353 is a legacy one-shot resolver: answer it unicast.
    const to = rinfo.port === (this.options.mdnsPort ?? 5353) ? undefined : rinfo;
    for (let at = 0; at < answers.length; at += ANSWERS_PER_PACKET * 2) {
      mdns.respond({ answers: answers.slice(at, at + ANSWERS_PER_PACKET * 2) }, to, this.onSendError);
    }
  }

  private onResponse(packet: unknown, rinfo: RemoteInfo): void {
    if (this.state !== 'running') return;
    const records = responseRecords(packet);
    this.presence.ingest(records, rinfo, Date.now());
    if (this.pending.size === 0) return;
    for (const record of records) {
      if (record.type !== 'SRV' || record.ttl === 0) continue;
      const lookups = this.pending.get(record.name);
      if (lookups === undefined) continue;
      const srv = srvData(record);
      const txt = records.find((r) => r.type === 'TXT' && r.name === record.name);
      const id = txt === undefined ? undefined : txtData(txt).get('id');
      if (srv === undefined || id === undefined || id === this.options.nodeId) continue;
      // On a keyed site a holder must be a member already in the table (its address is the
      // one it signed); anyone else's answer is ignored.
      const known = this.presence.peerById(id);
      if (known === undefined && this.options.membership !== undefined) continue;
      const peer = known ?? {
        id,
        url: `http://${isIPv4(rinfo.address) ? rinfo.address : `[${rinfo.address}]`}:${srv.port}`,
      };
      for (const lookup of [...lookups]) {
        lookup.found.set(peer.id, peer);
        if (lookup.firstAnswerOnly) lookup.finish();
      }
    }
  }

  private async shutdown(): Promise<void> {
    const wasRunning = this.state === 'running' || this.state === 'starting';
    this.state = 'closed';
    for (const timer of this.timers) clearInterval(timer);
    this.timers.length = 0;
    for (const lookups of [...this.pending.values()]) for (const lookup of [...lookups]) lookup.finish();
    this.presence.clear();
    const bonjour = this.bonjour;
    this.bonjour = undefined;
    if (bonjour === undefined) return;
    if (wasRunning) {
      // Goodbyes (all our records with TTL 0), so peers drop us now rather than at TTL.
      await withTimeout((done) => bonjour.unpublishAll(done), CLOSE_STEP_TIMEOUT_MS);
    }
    await withTimeout((done) => bonjour.destroy(done), CLOSE_STEP_TIMEOUT_MS);
    this.mdns = undefined;
    this.service = undefined;
  }

  private isClosed(): boolean {
    return this.state === 'closed';
  }

  private every(ms: number, task: () => void): void {
    const timer = setInterval(() => this.guard(task), ms);
    timer.unref();
    this.timers.push(timer);
  }

  /** Network input must never take the process down: log and drop whatever throws. */
  private guard(task: () => void): void {
    try {
      task();
    } catch (error) {
      this.logger.warn({ err: error }, 'dropped an mDNS packet or tick that failed');
    }
  }

  private readonly onSendError = (error?: unknown): void => {
    if (error !== undefined && error !== null) this.logger.debug({ err: error }, 'mdns send failed');
  };
}

/** A DNS label from an arbitrary id; a hash suffix keeps ids that sanitize alike apart. */
function dnsLabel(id: string): string {
  const clean = id.toLowerCase().replace(/[^a-z0-9-]/g, '-').slice(0, 40);
  if (clean === id) return clean;
  return `${clean}-${createHash('sha256').update(id).digest('hex').slice(0, 8)}`;
}

function waitReady(mdns: MulticastDns): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('mdns socket did not become ready')), READY_TIMEOUT_MS);
    mdns.on('ready', () => {
      clearTimeout(timer);
      resolve();
    });
    mdns.on('error', (error) => {
      clearTimeout(timer);
      reject(error instanceof Error ? error : new Error(String(error)));
    });
  });
}

/** Runs a callback-style step, but never waits longer than `ms` for it. */
function withTimeout(step: (done: () => void) => void, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    const done = (): void => {
      clearTimeout(timer);
      resolve();
    };
    try {
      step(done);
    } catch {
      done();
    }
  });
}
