import { BlockList, isIPv4 } from 'node:net';
import type { Cidr } from './parse-cidr.js';

/**
 * Who may use a node's client API (and its transparent proxy): loopback always, plus the
 * configured blocks. net.BlockList does the prefix matching, IPv4-mapped IPv6 included.
 */
export class ClientAllowList {
  private readonly blocks = new BlockList();

  constructor(cidrs: readonly Cidr[]) {
    this.blocks.addSubnet('127.0.0.0', 8, 'ipv4');
    this.blocks.addSubnet('::1', 128, 'ipv6');
    for (const cidr of cidrs) this.blocks.addSubnet(cidr.network, cidr.prefix, cidr.family);
  }

  allows(address: string | undefined): boolean {
    if (address === undefined || address === '') return false;
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
    const plain = mapped ?? address;
    return this.blocks.check(plain, isIPv4(plain) ? 'ipv4' : 'ipv6');
  }
}

/** Whether a listen host only ever accepts connections from this machine. */
export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}
