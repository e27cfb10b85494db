import { execFile, spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { existsSync, readdirSync, rmdirSync, rmSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

/**
 * A throw-away site LAN for tests: N network namespaces ("nodes") wired to one Linux
 * bridge with veth pairs, IPv4 198.18.<site>.<n+2>/24 (RFC 2544 benchmark range), with a
 * multicast route so mDNS works. The bridge lives in its own "hub" namespace, so nothing
 * is ever added to the host's namespace and deleting the hub removes the bridge and every
 * hub-side veth at once. Names carry a per-run prefix (`ep<pid base36>s<n>`).
 *
 * Optional host names: `hosts` writes /etc/netns/<ns>/hosts for every node. `ip netns exec`
 * bind-mounts each file of /etc/netns/<ns>/ over its /etc namesake for the command it runs,
 * so getaddrinfo (Node's dns.lookup, curl) and Go's own resolver (skopeo) inside the
 * namespace resolve those names, and nothing outside it does. destroy() removes the files.
 */

export interface SiteNamespace {
  readonly name: string;
  readonly address: string;
}

export interface Site {
  readonly prefix: string;
  readonly namespaces: readonly SiteNamespace[];
  /** Runs a command inside a namespace and returns its stdout; rejects on non-zero exit. */
  exec(namespace: string, command: string, args: readonly string[], timeoutMs?: number): Promise<string>;
  /** Starts a long-running command inside a namespace; destroy() stops it. */
  spawnIn(namespace: string, command: string, args: readonly string[], options?: SpawnOptions): ChildProcess;
  /** Stops every spawned process and removes every namespace of this site. Idempotent. */
  destroy(): Promise<void>;
}

const run = promisify(execFile);
const IP_TIMEOUT_MS = 10_000;
const KILL_GRACE_MS = 2_000;
let siteCounter = 0;
const liveSites = new Set<string>();

/** Why these tests cannot run here, or undefined when they can (root + `ip netns`). */
export function netnsUnavailableReason(): string | undefined {
  if (process.platform !== 'linux') return 'network namespaces need Linux';
  if (process.getuid?.() !== 0) return 'creating network namespaces needs root';
  const probe = `ep${process.pid.toString(36)}probe`;
  const added = spawnSync('ip', ['netns', 'add', probe], { timeout: IP_TIMEOUT_MS, encoding: 'utf8' });
  if (added.status !== 0) return `\`ip netns add\` failed: ${(added.stderr || added.error?.message || '').trim()}`;
  spawnSync('ip', ['netns', 'del', probe], { timeout: IP_TIMEOUT_MS });
  return undefined;
}

export interface CreateSiteOptions {
  readonly nodes: number;
  /** Third octet of the node addresses. Default 0. */
  readonly site?: number;
  /** Host name → index of the node it names, resolvable inside every node namespace. */
  readonly hosts?: Readonly<Record<string, number>>;
}

/** iproute2's per-namespace /etc overlay directory. */
const NETNS_ETC = '/etc/netns';
const HOSTS_MKDIR_ATTEMPTS = 3;
/** Prefixes of this process's sites that wrote files under NETNS_ETC. */
const sitesWithHostsFiles = new Set<string>();
/** Whether this process created NETNS_ETC (then it removes it again once empty). */
let createdNetnsEtc = false;

export async function createSite(options: CreateSiteOptions): Promise<Site> {
  if (!Number.isInteger(options.nodes) || options.nodes < 1 || options.nodes > 200) {
    throw new RangeError(`nodes must be 1..200, got ${options.nodes}`);
  }
  const siteIndex = options.site ?? 0;
  // Fixed-width pid so one run's prefix is never a prefix of another run's.
  const prefix = `ep${process.pid.toString(36).padStart(5, '0')}s${(siteCounter++).toString(36)}`;
  const hub = `${prefix}-hub`;
  const namespaces: SiteNamespace[] = Array.from({ length: options.nodes }, (_, n) => ({
    name: `${prefix}-n${n}`,
    address: `198.18.${siteIndex}.${n + 2}`,
  }));
  const children = new Set<ChildProcess>();
  liveSites.add(prefix);
  let destroyed: Promise<void> | undefined;

  const site: Site = {
    prefix,
    namespaces,
    async exec(namespace, command, args, timeoutMs = IP_TIMEOUT_MS) {
      const { stdout } = await run('ip', ['netns', 'exec', namespace, command, ...args], { timeout: timeoutMs });
      return stdout;
    },
    spawnIn(namespace, command, args, spawnOptions = {}) {
      const child = spawn('ip', ['netns', 'exec', namespace, command, ...args], spawnOptions);
      children.add(child);
      child.once('exit', () => children.delete(child));
      return child;
    },
    destroy() {
      destroyed ??= (async () => {
        await Promise.all([...children].map((child) => stopChild(child)));
        for (const ns of [...namespaces.map((n) => n.name), hub]) await ip(['netns', 'del', ns]).catch(() => undefined);
        sweep(prefix);
        liveSites.delete(prefix);
      })();
      return destroyed;
    },
  };

  try {
    await ip(['netns', 'add', hub]);
    await ip(['-n', hub, 'link', 'set', 'lo', 'up']);
    await ip(['-n', hub, 'link', 'add', 'br0', 'type', 'bridge']);
    // Flood all multicast: no snooping querier runs on this bridge.
    await ip(['-n', hub, 'link', 'set', 'br0', 'type', 'bridge', 'mcast_snooping', '0']).catch(() => undefined);
    await ip(['-n', hub, 'link', 'set', 'br0', 'up']);
    for (const [n, node] of namespaces.entries()) {
      await ip(['netns', 'add', node.name]);
      // Created inside the hub with the peer end moved straight into the node namespace,
      // so the short fixed names (p<n>, eth0) never meet the host's interface names.
      await ip(['-n', hub, 'link', 'add', `p${n}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', node.name]);
      await ip(['-n', hub, 'link', 'set', `p${n}`, 'master', 'br0']);
      await ip(['-n', hub, 'link', 'set', `p${n}`, 'up']);
      await ip(['-n', node.name, 'link', 'set', 'lo', 'up']);
      await ip(['-n', node.name, 'addr', 'add', `${node.address}/24`, 'dev', 'eth0']);
      await ip(['-n', node.name, 'link', 'set', 'eth0', 'up']);
      await ip(['-n', node.name, 'route', 'add', '224.0.0.0/4', 'dev', 'eth0']);
    }
    if (options.hosts !== undefined) await writeHostsFiles(prefix, namespaces, options.hosts);
  } catch (error) {
    await site.destroy();
    throw error;
  }
  return site;
}

async function ip(args: readonly string[]): Promise<void> {
  await run('ip', args, { timeout: IP_TIMEOUT_MS });
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), KILL_GRACE_MS);
  await exited;
  clearTimeout(timer);
}

async function writeHostsFiles(prefix: string, namespaces: readonly SiteNamespace[], hosts: Readonly<Record<string, number>>): Promise<void> {
  // The file replaces /etc/hosts entirely inside the namespace, so localhost must stay.
  const lines = ['# Written by EdgePier tests (test/support/netns.ts); removed with the namespace.', '127.0.0.1 localhost', '::1 localhost ip6-localhost ip6-loopback'];
  for (const [host, index] of Object.entries(hosts)) {
    const node = namespaces[index];
    if (!node) throw new RangeError(`hosts: ${host} names node ${index}, the site has ${namespaces.length}`);
    lines.push(`${node.address} ${host}`);
  }
  sitesWithHostsFiles.add(prefix);
  if (!existsSync(NETNS_ETC)) createdNetnsEtc = true;
  for (const node of namespaces) {
    const dir = join(NETNS_ETC, node.name);
    // Another test process may remove an empty NETNS_ETC between our mkdir and write: retry.
    for (let attempt = 1; ; attempt += 1) {
      try {
        await mkdir(dir, { recursive: true });
        await writeFile(join(dir, 'hosts'), `${lines.join('\n')}\n`);
        break;
      } catch (error) {
        if (attempt >= HOSTS_MKDIR_ATTEMPTS || (error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      }
    }
  }
}

/** Best effort: removes any namespace (and /etc/netns overlay) still carrying this run's prefix. */
function sweep(prefix: string): void {
  const listed = spawnSync('ip', ['netns', 'list'], { timeout: IP_TIMEOUT_MS, encoding: 'utf8' });
  for (const line of (listed.stdout ?? '').split('\n')) {
    const name = line.split(' ')[0] ?? '';
    if (name.startsWith(`${prefix}-`)) spawnSync('ip', ['netns', 'del', name], { timeout: IP_TIMEOUT_MS });
  }
  if (sitesWithHostsFiles.delete(prefix)) sweepHostsFiles(prefix);
}

/** `ip netns del` leaves /etc/netns/<ns> alone: remove ours, and NETNS_ETC if we made it and it is empty. */
function sweepHostsFiles(prefix: string): void {
  let entries: string[] = [];
  try {
    entries = readdirSync(NETNS_ETC);
  } catch {
    return;
  }
  for (const name of entries) if (name.startsWith(`${prefix}-`)) rmSync(join(NETNS_ETC, name), { recursive: true, force: true });
  if (createdNetnsEtc && sitesWithHostsFiles.size === 0) {
    try {
      rmdirSync(NETNS_ETC);
    } catch {
      // Not empty: another process's namespaces still use it.
    }
  }
}

// A test that crashes or forgets destroy() must not leave namespaces behind.
process.once('exit', () => {
  for (const prefix of liveSites) sweep(prefix);
});
