import { execFile, spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { promisify } from 'node:util';

/**
 * A throw-away site LAN for tests: N network namespaces ("nodes") wired to one Linux
 * bridge with veth pairs, IPv4 198.18.<site>.<n+2>/24 (RFC 2544 benchmark range), with a
 * multicast route so mDNS works. The bridge lives in its own "hub" namespace, so nothing
 * is ever added to the host's namespace and deleting the hub removes the bridge and every
 * hub-side veth at once. Names carry a per-run prefix (`ep<pid base36>s<n>`).
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

export async function createSite(options: { nodes: number; site?: number }): Promise<Site> {
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

/** Best effort: removes any namespace still carrying this run's prefix. */
function sweep(prefix: string): void {
  const listed = spawnSync('ip', ['netns', 'list'], { timeout: IP_TIMEOUT_MS, encoding: 'utf8' });
  for (const line of (listed.stdout ?? '').split('\n')) {
    const name = line.split(' ')[0] ?? '';
    if (name.startsWith(`${prefix}-`)) spawnSync('ip', ['netns', 'del', name], { timeout: IP_TIMEOUT_MS });
  }
}

// A test that crashes or forgets destroy() must not leave namespaces behind.
process.once('exit', () => {
  for (const prefix of liveSites) sweep(prefix);
});
