// A site LAN with a cloud behind a WAN link, all in network namespaces: the LAN of
// netns.ts (bridge in a hub namespace, nodes at 198.18.<site>.<n+2>/24) plus
//   hub  br0 198.18.<site>.1/24  (the site's router, IPv4 forwarding on)
//   hub  wan 198.19.<site>.1/24 ──veth── cloud eth0 198.19.<site>.2/24
// The WAN veth pair can be rate-limited in both directions (tbf on each end's egress), and
// its byte counters are the WAN traffic. Multicast stays on the LAN (it is not routed), so
// mDNS never touches the WAN counters. Everything lives in namespaces named with the
// site's prefix: destroy(), and netns.ts's exit sweep, remove it all.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createSite, type Site, type SiteNamespace } from './netns.js';

const run = promisify(execFile);
const IP_TIMEOUT_MS = 10_000;

export interface WanCounters {
  /** Bytes the cloud sent towards the site (cloud eth0 TX). */
  readonly toSite: number;
  /** Bytes the site sent to the cloud (cloud eth0 RX). */
  readonly fromSite: number;
}

export interface WanSite {
  readonly site: Site;
  readonly nodes: readonly SiteNamespace[];
  readonly cloud: SiteNamespace;
  /** The `tc` rate of each direction of the WAN link, or undefined when unshaped. */
  readonly rate: string | undefined;
  /** Byte counters of the WAN link, read from the cloud end of the veth pair. */
  wanCounters(): Promise<WanCounters>;
  /** Bytes node `index` sent (its eth0 TX: what its LAN uplink carried) and received. */
  nodeCounters(index: number): Promise<{ sent: number; received: number }>;
  /** Silently drops every packet from these addresses at the cloud (a WAN that is down for them). */
  cutCloudFrom(addresses: readonly string[]): Promise<void>;
  /** Packets the cut has dropped so far (proof that the cut nodes really tried). */
  droppedAtCloud(): Promise<number>;
  destroy(): Promise<void>;
}

export interface CreateWanSiteOptions {
  readonly nodes: number;
  /** Third octet of the addresses. Default 0. */
  readonly site?: number;
  /** `tc` rate for each direction (`50mbit`); omitted: unshaped. */
  readonly rate?: string;
  /** `tc` rate of every node's LAN port, each direction (`100mbit`: switched Fast Ethernet); omitted: unshaped. */
  readonly lanRate?: string;
}

/** tbf on one egress: a 10 ms bucket (at least 16 kB) and up to 100 ms of queue. */
function tbf(device: string, rate: string): string[] {
  const burst = String(Math.max(16_000, Math.round(parseRate(rate) / 100)));
  return ['qdisc', 'add', 'dev', device, 'root', 'tbf', 'rate', rate, 'burst', burst, 'latency', '100ms'];
}

/** Bytes per second of a `tc` rate such as `50mbit`, `800kbit`, `1gbit`. */
export function parseRate(rate: string): number {
  const match = /^(\d+(?:\.\d+)?)(bit|kbit|mbit|gbit)$/i.exec(rate.trim());
  if (!match?.[1] || !match[2]) throw new RangeError(`rate must look like 50mbit, got ${JSON.stringify(rate)}`);
  const scale = { bit: 1, kbit: 1e3, mbit: 1e6, gbit: 1e9 }[match[2].toLowerCase() as 'bit' | 'kbit' | 'mbit' | 'gbit'];
  return (Number(match[1]) * scale) / 8;
}

export async function createWanSite(options: CreateWanSiteOptions): Promise<WanSite> {
  const siteIndex = options.site ?? 0;
  const site = await createSite({ nodes: options.nodes, site: siteIndex });
  const hub = `${site.prefix}-hub`;
  // Named with the site prefix, so site.destroy()'s sweep deletes it too.
  const cloud: SiteNamespace = { name: `${site.prefix}-cloud`, address: `198.19.${siteIndex}.2` };
  const router = `198.18.${siteIndex}.1`;
  let cutRules = 0;
  try {
    await ip(['-n', hub, 'addr', 'add', `${router}/24`, 'dev', 'br0']);
    await ip(['netns', 'exec', hub, 'sysctl', '-q', '-w', 'net.ipv4.ip_forward=1']);
    await ip(['netns', 'add', cloud.name]);
    await ip(['-n', hub, 'link', 'add', 'wan', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', cloud.name]);
    await ip(['-n', hub, 'addr', 'add', `198.19.${siteIndex}.1/24`, 'dev', 'wan']);
    await ip(['-n', hub, 'link', 'set', 'wan', 'up']);
    await ip(['-n', cloud.name, 'link', 'set', 'lo', 'up']);
    await ip(['-n', cloud.name, 'addr', 'add', `${cloud.address}/24`, 'dev', 'eth0']);
    await ip(['-n', cloud.name, 'link', 'set', 'eth0', 'up']);
    await ip(['-n', cloud.name, 'route', 'add', 'default', 'via', `198.19.${siteIndex}.1`]);
    for (const node of site.namespaces) await ip(['-n', node.name, 'route', 'add', `198.19.${siteIndex}.0/24`, 'via', router]);
    if (options.rate !== undefined) {
      await ip(['netns', 'exec', cloud.name, 'tc', ...tbf('eth0', options.rate)]);
      await ip(['netns', 'exec', hub, 'tc', ...tbf('wan', options.rate)]);
    }
    if (options.lanRate !== undefined) {
      // Upload on the node's own end, download on the bridge port that feeds it.
      for (const [n, node] of site.namespaces.entries()) {
        await ip(['netns', 'exec', node.name, 'tc', ...tbf('eth0', options.lanRate)]);
        await ip(['netns', 'exec', hub, 'tc', ...tbf(`p${n}`, options.lanRate)]);
      }
    }
  } catch (error) {
    await site.destroy();
    throw error;
  }

  return {
    site,
    nodes: site.namespaces,
    cloud,
    rate: options.rate,
    async wanCounters() {
      const { stdout } = await run('ip', ['-n', cloud.name, '-j', '-s', 'link', 'show', 'dev', 'eth0'], { timeout: IP_TIMEOUT_MS });
      const [link] = JSON.parse(stdout) as { stats64?: { rx?: { bytes?: number }; tx?: { bytes?: number } } }[];
      const rx = link?.stats64?.rx?.bytes;
      const tx = link?.stats64?.tx?.bytes;
      if (rx === undefined || tx === undefined) throw new Error(`no byte counters in: ${stdout}`);
      return { toSite: tx, fromSite: rx };
    },
    async nodeCounters(index) {
      const node = site.namespaces[index];
      if (!node) throw new RangeError(`no node ${index}`);
      const { stdout } = await run('ip', ['-n', node.name, '-j', '-s', 'link', 'show', 'dev', 'eth0'], { timeout: IP_TIMEOUT_MS });
      const [link] = JSON.parse(stdout) as { stats64?: { rx?: { bytes?: number }; tx?: { bytes?: number } } }[];
      const rx = link?.stats64?.rx?.bytes;
      const tx = link?.stats64?.tx?.bytes;
      if (rx === undefined || tx === undefined) throw new Error(`no byte counters in: ${stdout}`);
      return { sent: tx, received: rx };
    },
    async cutCloudFrom(addresses) {
      for (const address of addresses) {
        await ip(['netns', 'exec', cloud.name, 'iptables', '-A', 'INPUT', '-s', `${address}/32`, '-j', 'DROP']);
        cutRules += 1;
      }
    },
    async droppedAtCloud() {
      if (cutRules === 0) return 0;
      const { stdout } = await run('ip', ['netns', 'exec', cloud.name, 'iptables', '-L', 'INPUT', '-n', '-v', '-x'], { timeout: IP_TIMEOUT_MS });
      let packets = 0;
      for (const line of stdout.split('\n')) {
        const fields = line.trim().split(/\s+/);
        if (fields[2] === 'DROP') packets += Number(fields[0]);
      }
      return packets;
    },
    destroy: () => site.destroy(),
  };
}

async function ip(args: readonly string[]): Promise<void> {
  await run('ip', args, { timeout: IP_TIMEOUT_MS });
}
