import { lookup as dnsLookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';
import { networkInterfaces } from 'node:os';

/** Resolves a host name to every address it has, as `dns.promises.lookup(name, { all: true })` does. */
export type ResolveHost = (host: string) => Promise<ReadonlyArray<{ address: string; family: number }>>;

export interface TargetPolicyOptions {
  /** The ports this node listens on (client API, peer API, proxy): asked at every check, so late listeners count. */
  readonly ownPorts: () => readonly number[];
  /** Replaces getaddrinfo (tests); default `dns.promises.lookup` with `all: true`. */
  readonly resolve?: ResolveHost;
  /** This machine's own addresses; default every address of `os.networkInterfaces()`, read at each check. */
  readonly localAddresses?: () => readonly string[];
  /** A name that does not resolve within this time is refused rather than waited on. */
  readonly resolveTimeoutMs: number;
}

/** Where the proxy may dial: the checked address, which is the one it must connect to. */
export type TargetVerdict =
  | { readonly allowed: true; readonly address: string }
  | { readonly allowed: false; readonly reason: TargetRefusal; readonly message: string; readonly address?: string };

export type TargetRefusal = 'loopback' | 'link-local' | 'unspecified' | 'own-port' | 'unresolvable' | 'invalid';

/**
 * Which tunnel and forward targets the transparent proxy refuses. It exists for the node's
 * runtimes to reach registries and the internet, never to reach this machine itself:
 * anything bound to loopback (the mirror's /metrics, a database, a local admin API), the
 * cloud metadata service on link-local, and the node's own listeners would otherwise be one
 * CONNECT away for every client of the proxy.
 *
 * Names are resolved here, every answer is checked, and the caller connects to the address
 * returned: resolving again at connect time would let a name answer differently the second
 * time (DNS rebinding).
 */
export class TargetPolicy {
  private readonly resolve: ResolveHost;
  private readonly localAddresses: () => readonly string[];

  constructor(private readonly options: TargetPolicyOptions) {
    this.resolve = options.resolve ?? ((host) => dnsLookup(host, { all: true, verbatim: true }));
    this.localAddresses = options.localAddresses ?? interfaceAddresses;
  }

  async check(host: string, port: number): Promise<TargetVerdict> {
    try {
      return await this.checkTarget(host, port);
    } catch (error) {
      // A spelling this code did not foresee is refused, never let through unchecked.
      return { allowed: false, reason: 'invalid', message: `${host} is not an address the proxy can check (${(error as Error).message})` };
    }
  }

  private async checkTarget(host: string, port: number): Promise<TargetVerdict> {
    const name = host.toLowerCase().replace(/\.$/, '');
    // RFC 6761: localhost and everything under it is this machine, whatever a resolver says.
    if (name === 'localhost' || name.endsWith('.localhost')) {
      return { allowed: false, reason: 'loopback', message: `${host} names this machine (loopback)` };
    }
    if (isIP(name) !== 0) return this.checkAddress(host, name, port);
    let answers: ReadonlyArray<{ address: string }>;
    try {
      answers = await withTimeout(this.resolve(name), this.options.resolveTimeoutMs);
    } catch (error) {
      const code = (error as { code?: string }).code ?? (error as Error).message;
      return { allowed: false, reason: 'unresolvable', message: `${host} could not be resolved (${code})` };
    }
    if (answers.length === 0) return { allowed: false, reason: 'unresolvable', message: `${host} has no address` };
    // One forbidden answer refuses the name: a name that mixes a public address with
    // 127.0.0.1 is a rebinding attempt, not a host worth reaching.
    for (const answer of answers) {
      const verdict = this.checkAddress(host, answer.address, port);
      if (!verdict.allowed) return verdict;
    }
    const first = answers[0];
    return first === undefined ? { allowed: false, reason: 'unresolvable', message: `${host} has no address` } : { allowed: true, address: first.address };
  }

  private checkAddress(host: string, rawAddress: string, port: number): TargetVerdict {
    const address = canonicalAddress(rawAddress);
    const family = isIP(address) === 4 ? 'ipv4' : 'ipv6';
    const named = host === rawAddress ? host : `${host} (${rawAddress})`;
    for (const [reason, blocks] of FORBIDDEN) {
      if (blocks.check(address, family)) return { allowed: false, reason, address, message: `${named} is ${REASON_TEXT[reason]}: the proxy does not connect there` };
    }
    if (this.options.ownPorts().includes(port) && this.localAddresses().some((own) => canonicalAddress(own) === address)) {
      return { allowed: false, reason: 'own-port', address, message: `${named}:${port} is one of this node's own listeners: the proxy does not connect there` };
    }
    return { allowed: true, address };
  }
}

const REASON_TEXT: Record<'loopback' | 'link-local' | 'unspecified', string> = {
  loopback: 'a loopback address (this machine)',
  'link-local': 'a link-local address (where cloud metadata services live)',
  unspecified: 'an unspecified address (it means this machine)',
};

function blockList(subnets: ReadonlyArray<readonly [string, number, 'ipv4' | 'ipv6']>): BlockList {
  const list = new BlockList();
  for (const [network, prefix, family] of subnets) list.addSubnet(network, prefix, family);
  return list;
}

/**
 * Checked after IPv4-mapped forms (::ffff:a.b.c.d) are unmapped. `0.0.0.0/8` and `::` connect
 * to this machine on Linux; `::/96` also covers the deprecated IPv4-compatible `::127.0.0.1`.
 */
const FORBIDDEN: ReadonlyArray<readonly [keyof typeof REASON_TEXT, BlockList]> = [
  ['loopback', blockList([['127.0.0.0', 8, 'ipv4'], ['::1', 128, 'ipv6']])],
  ['link-local', blockList([['169.254.0.0', 16, 'ipv4'], ['fe80::', 10, 'ipv6']])],
  ['unspecified', blockList([['0.0.0.0', 8, 'ipv4'], ['::', 96, 'ipv6']])],
];

/**
 * One spelling per address, so that comparisons cannot be dodged by writing it differently:
 * IPv6 in its canonical compressed form (WHATWG URL does that), and IPv4-mapped IPv6
 * (`::ffff:127.0.0.1`, `::ffff:7f00:1`), which the kernel treats as the IPv4 address, as that.
 */
export function canonicalAddress(address: string): string {
  // A zone id (`fe80::1%eth0`) picks an interface, not another address: it changes nothing here.
  const unzoned = address.replace(/%.*$/, '');
  if (isIP(unzoned) !== 6) return unzoned;
  const canonical = new URL(`http://[${unzoned}]/`).hostname.slice(1, -1);
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(canonical);
  if (mapped?.[1] === undefined || mapped[2] === undefined) return canonical;
  const high = parseInt(mapped[1], 16);
  const low = parseInt(mapped[2], 16);
  return `${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}`;
}

function interfaceAddresses(): string[] {
  return Object.values(networkInterfaces()).flatMap((entries) => (entries ?? []).map((entry) => entry.address.replace(/%.*$/, '')));
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(Object.assign(new Error(`no answer within ${ms} ms`), { code: 'ETIMEOUT' })), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}
