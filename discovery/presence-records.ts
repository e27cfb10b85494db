import { isIPv4 } from 'node:net';
import { networkInterfaces } from 'node:os';
import { announcementFields, type AnnouncementSeal } from './announcement-seal.js';
import type { OutgoingRecord } from './mdns-wire.js';

const MAX_ADVERTISED_ADDRESSES = 4;

export interface PresenceRecordsOptions {
  /** `<label>._edgepier._tcp.local` */
  readonly instance: string;
  readonly serviceType: string;
  readonly hostName: string;
  readonly nodeId: string;
  readonly protocolVersion: string;
  readonly port: number;
  /** The only address advertised, when set; else those of every interface. */
  readonly interfaceAddress?: string;
  /** On a keyed site: the TXT carries the signed addresses and the seal. */
  readonly membership?: AnnouncementSeal;
}

/**
 * This node's DNS-SD records (PTR, SRV, TXT, a few addresses), built afresh for every
 * announcement and answer so interface changes show up, and what to answer to a question.
 */
export class PresenceRecords {
  constructor(private readonly options: PresenceRecordsOptions) {}

  all(ttl: number): OutgoingRecord[] {
    const { instance, serviceType, hostName, nodeId, protocolVersion, port, membership } = this.options;
    const addresses = this.advertisedAddresses().map(
      (address): OutgoingRecord => ({ name: hostName, type: isIPv4(address) ? 'A' : 'AAAA', ttl, data: address }),
    );
    const txt = [`id=${nodeId}`, `v=${protocolVersion}`];
    if (membership !== undefined) {
      const list = addresses.map((address) => String(address.data)).join(',');
      txt.push(`a=${list}`, `mac=${membership.seal(announcementFields(instance, nodeId, protocolVersion, port, list) ?? '')}`);
    }
    return [
      { name: serviceType, type: 'PTR', ttl, data: instance },
      { name: instance, type: 'SRV', ttl, data: { priority: 0, weight: 0, port, target: hostName } },
      { name: instance, type: 'TXT', ttl, data: txt },
      ...addresses,
    ];
  }

  /** Our records that answer a browse (PTR) or a look-up of our instance or host name. */
  answering(question: { name: string; type: string }, ttl: number): OutgoingRecord[] {
    const any = question.type === 'ANY';
    if (question.name === this.options.serviceType && (any || question.type === 'PTR')) return this.all(ttl);
    if (question.name === this.options.instance && (any || question.type === 'SRV' || question.type === 'TXT')) return this.all(ttl).slice(1);
    if (question.name === this.options.hostName && (any || question.type === 'A' || question.type === 'AAAA')) {
      return this.all(ttl).filter((record) => record.type === 'A' || record.type === 'AAAA');
    }
    return [];
  }

  /**
   * The configured interface's address, else the IPv4 addresses of every interface, else IPv6;
   * at most a few: every container veth adds an interface, which on a busy host would push an
   * announcement past 1,500 bytes.
   */
  private advertisedAddresses(): string[] {
    if (this.options.interfaceAddress !== undefined) return [this.options.interfaceAddress];
    const all = Object.values(networkInterfaces()).flatMap((entries) => entries ?? []).filter((entry) => !entry.internal);
    const v4 = all.filter((entry) => entry.family === 'IPv4').map((entry) => entry.address);
    const v6 = all.filter((entry) => entry.family === 'IPv6' && !entry.address.toLowerCase().startsWith('fe80')).map((entry) => entry.address);
    return (v4.length > 0 ? v4 : v6).slice(0, MAX_ADVERTISED_ADDRESSES);
  }
}
