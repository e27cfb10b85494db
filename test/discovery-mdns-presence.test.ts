// The mDNS peer table fed with hand-made records (no sockets): TTL expiry, refresh queries,
// goodbyes, protocol versions and malformed records.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { announcementFields } from '../discovery/announcement-seal.js';
import { MdnsPresence, type MdnsPresenceOptions } from '../discovery/mdns-presence.js';
import { SiteKey } from '../site/site-key.js';
import { responseRecords } from '../discovery/mdns-wire.js';
import type { Peer } from '../discovery/peer-discovery.js';

const TYPE = '_edgepier._tcp.local';
const source = { address: '198.18.0.3', port: 5353 };

interface AnnouncementShape {
  readonly ttl: number;
  readonly port: number;
  readonly txt: readonly string[];
  /** The A record of the instance's host. */
  readonly hostAddress: string;
}

/** The four records of one announcement of `id`: PTR, SRV, TXT and the host's A record. */
function records(id: string, shape: AnnouncementShape): unknown {
  const fqdn = `edgepier-${id}.${TYPE}`;
  const { ttl } = shape;
  return {
    answers: [
      { name: TYPE, type: 'PTR', ttl, data: fqdn },
      { name: fqdn, type: 'SRV', ttl, data: { port: shape.port, target: `ep-${id}.local` } },
      { name: fqdn, type: 'TXT', ttl, data: shape.txt.map((text) => Buffer.from(text)) },
      { name: `ep-${id}.local`, type: 'A', ttl, data: shape.hostAddress },
    ],
  };
}

function announcement(id: string, ttl: number, version = '1'): unknown {
  return records(id, { ttl, port: 5000, txt: [`id=${id}`, `v=${version}`], hostAddress: '198.18.0.3' });
}

interface Table {
  readonly presence: MdnsPresence;
  readonly ups: Peer[];
  readonly downs: Peer[];
  /** Instances a keyed table refused (onForeign). */
  readonly foreign: string[];
  readonly requeries: string[];
}

/** A table that records what it reports; `keyed` adds a site's seal and the https scheme. */
function table(keyed: Pick<MdnsPresenceOptions, 'membership' | 'scheme'> = {}): Table {
  const ups: Peer[] = [];
  const downs: Peer[] = [];
  const foreign: string[] = [];
  const requeries: string[] = [];
  const presence = new MdnsPresence({
    selfId: 'me',
    serviceType: TYPE,
    protocolVersion: '1',
    onUp: (peer) => ups.push(peer),
    onDown: (peer) => downs.push(peer),
    requery: (instance) => requeries.push(instance),
    onForeign: (fqdn) => foreign.push(fqdn),
    ...keyed,
  });
  return { presence, ups, downs, foreign, requeries };
}

void describe('MdnsPresence', () => {
  void it('adds a peer once, refreshes it at 80 % and 90 % of its TTL, drops it when the TTL lapses', () => {
    const { presence, ups, downs, requeries } = table();
    presence.ingest(responseRecords(announcement('b', 10)), source, 0);
    presence.ingest(responseRecords(announcement('b', 10)), source, 1000);
    assert.deepEqual(ups, [{ id: 'b', url: 'http://198.18.0.3:5000' }]);
    presence.sweep(8500); // 75 % of the TTL since the last refresh: nothing yet
    assert.deepEqual(requeries, []);
    presence.sweep(9100);
    presence.sweep(10_100);
    assert.deepEqual(requeries, [`edgepier-b.${TYPE}`, `edgepier-b.${TYPE}`]);
    presence.sweep(11_000);
    assert.deepEqual(downs, [{ id: 'b', url: 'http://198.18.0.3:5000' }]);
    assert.deepEqual(presence.peers(), []);
  });

  void it('drops a peer at once on a goodbye and ignores itself and other protocol versions', () => {
    const { presence, ups, downs } = table();
    presence.ingest(responseRecords(announcement('me', 120)), source, 0);
    presence.ingest(responseRecords(announcement('v2', 120, '2')), source, 0);
    assert.deepEqual(ups, []);
    presence.ingest(responseRecords(announcement('b', 120)), source, 0);
    presence.ingest(responseRecords(announcement('b', 0)), source, 10);
    assert.deepEqual(downs, [{ id: 'b', url: 'http://198.18.0.3:5000' }]);
  });

  void it('bounds what one flooding host holds, so an honest newcomer is up at once', () => {
    const { presence, ups } = table();
    const attacker = { address: '198.18.0.66', port: 5353 };
    for (let i = 0; i < 5_000; i++) presence.ingest(responseRecords(announcement(`fake-${i}`, 4_000)), attacker, i);
    presence.ingest(responseRecords(announcement('honest', 120)), source, 5_000);
    assert.ok(presence.peerById('honest'), 'the honest node is in the table');
    const fakes = presence.peers().filter((peer) => peer.id.startsWith('fake-'));
    assert.equal(fakes.length, 16, 'the flooding host churns through its own 16 slots');
    // The slots it keeps are its newest: each newcomer of its own pushed out its oldest.
    assert.ok(presence.peerById('fake-4999') && !presence.peerById('fake-0'));
    assert.equal(ups.length, 5_001);
  });

  void it('under a flood from many addresses, keeps peers that answered and still admits a newcomer', () => {
    const { presence, downs } = table();
    // Seen twice, a second apart (it answered a query or re-announced): confirmed.
    presence.ingest(responseRecords(announcement('old', 120)), source, 0);
    presence.ingest(responseRecords(announcement('old', 120)), source, 1_500);
    // 5,000 instances from as many (spoofed) addresses fill the whole table and more.
    for (let i = 0; i < 5_000; i++) {
      presence.ingest(responseRecords(announcement(`fake-${i}`, 4_000)), { address: `198.19.${i >> 8}.${i & 255}`, port: 5353 }, 2_000);
    }
    presence.ingest(responseRecords(announcement('new', 120)), { address: '198.18.0.4', port: 5353 }, 2_100);
    assert.ok(presence.peerById('old'), 'a confirmed peer is never pushed out by unconfirmed ones');
    assert.ok(presence.peerById('new'), 'a newcomer takes the slot of the oldest unconfirmed entry');
    assert.equal(presence.peers().length, 4096, 'the table stays at its bound');
    assert.ok(!downs.some((peer) => peer.id === 'old' || peer.id === 'new'));
  });

  void it('survives malformed records', () => {
    const { presence, ups } = table();
    const fqdn = `x.${TYPE}`;
    for (const packet of [
      null,
      42,
      { answers: 'no' },
      { answers: [null, 1, { name: 5 }, { name: fqdn, type: 'SRV', ttl: 10, data: null }] },
      { answers: [{ name: fqdn, type: 'SRV', ttl: -1, data: { port: 70_000, target: 'x' } }] },
      { answers: [{ name: fqdn, type: 'TXT', ttl: 10, data: [1, {}, Buffer.from('=x'), Buffer.from('id')] }] },
      { answers: [{ name: TYPE, type: 'PTR', ttl: 10, data: { not: 'a name' } }] },
    ]) {
      presence.ingest(responseRecords(packet), source, 0);
    }
    presence.sweep(100_000);
    assert.deepEqual(ups, []);
  });
});

void describe('MdnsPresence on a keyed site', () => {
  const key = new SiteKey(Buffer.alloc(32, 3));
  const seal = { seal: (fields: string) => key.announcementMac(fields), verify: (fields: string, mac: string) => key.verifyAnnouncement(fields, mac) };

  function sealed(id: string, addresses: string, options: { mac?: string; ttl?: number } = {}): unknown {
    const fqdn = `edgepier-${id}.${TYPE}`;
    const mac = options.mac ?? key.announcementMac(announcementFields(fqdn, id, '1', 5001, addresses) ?? '');
    return records(id, { ttl: options.ttl ?? 120, port: 5001, txt: [`id=${id}`, 'v=1', `a=${addresses}`, `mac=${mac}`], hostAddress: '198.18.0.9' });
  }

  const keyedTable = (): Table => table({ membership: seal, scheme: 'https' });

  void it('admits a sealed announcement at the address it signed, whoever relays it', () => {
    const { presence, ups } = keyedTable();
    presence.ingest(responseRecords(sealed('b', '198.18.0.3')), { address: '198.18.0.66', port: 5353 }, 0);
    assert.deepEqual(ups, [{ id: 'b', url: 'https://198.18.0.3:5001' }], 'a replay from another host still points at the member');
  });

  void it('ignores forged, unsealed and re-addressed announcements without taking a table slot or sending a query', () => {
    const { presence, ups, foreign, requeries } = keyedTable();
    presence.ingest(responseRecords(sealed('b', '198.18.0.3', { mac: 'AAAAAAAAAAAAAAAAAAAAAA' })), source, 0);
    presence.ingest(responseRecords(announcement('c', 120)), source, 0);
    const moved = sealed('d', '198.18.0.3') as { answers: { type: string; data: unknown }[] };
    const txt = moved.answers.find((record) => record.type === 'TXT');
    if (txt) txt.data = (txt.data as Buffer[]).map((item) => (item.toString().startsWith('a=') ? Buffer.from('a=198.18.0.66') : item));
    presence.ingest(responseRecords(moved), source, 0);
    presence.ingest(responseRecords({ answers: [{ name: TYPE, type: 'PTR', ttl: 120, data: `edgepier-e.${TYPE}` }] }), source, 0);
    assert.deepEqual(ups, []);
    assert.deepEqual(presence.peers(), []);
    assert.deepEqual(requeries, [], 'a bare PTR from anyone is no reason to query the LAN');
    assert.deepEqual(foreign.sort(), [`edgepier-b.${TYPE}`, `edgepier-c.${TYPE}`, `edgepier-d.${TYPE}`]);
  });

  void it('takes a goodbye only with a valid seal', () => {
    const { presence, ups } = keyedTable();
    presence.ingest(responseRecords(sealed('b', '198.18.0.3')), source, 0);
    presence.ingest(responseRecords(sealed('b', '198.18.0.3', { mac: 'AAAAAAAAAAAAAAAAAAAAAA', ttl: 0 })), source, 1);
    assert.equal(presence.peers().length, 1, 'a forged goodbye is ignored');
    presence.ingest(responseRecords(sealed('b', '198.18.0.3', { ttl: 0 })), source, 2);
    assert.deepEqual(presence.peers(), []);
    assert.equal(ups.length, 1);
  });
});
