import { EventEmitter } from 'node:events';
import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Peer, PeerDiscovery, PeerDiscoveryEvents } from '../../discovery/peer-discovery.js';
import { createSite, type Site } from './netns.js';

/**
 * Drives netns-discovery-node.ts processes from the test process: one namespace per node,
 * real multicast between them. `RemoteDiscovery` makes a remote MdnsDiscovery look like a
 * local PeerDiscovery so the conformance suite runs unchanged against it.
 */

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
const RUNNER = fileURLToPath(new URL('./netns-discovery-node.ts', import.meta.url));
const REQUEST_TIMEOUT_MS = 60_000;

interface Reply {
  id?: number;
  ok?: boolean;
  result?: unknown;
  error?: string;
  event?: 'peer-up' | 'peer-down';
  peer?: Peer;
  at?: number;
}

/** One runner process and its JSON-lines channel. */
export class NodeProcess extends EventEmitter<{ event: [Reply] }> {
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  readonly exited: Promise<void>;
  stderr = '';

  constructor(readonly child: ChildProcess) {
    super();
    if (child.stdout === null || child.stdin === null) throw new Error('runner needs piped stdio');
    createInterface({ input: child.stdout }).on('line', (line) => this.onLine(line));
    child.stderr?.on('data', (chunk: Buffer) => {
      this.stderr = (this.stderr + chunk.toString()).slice(-8000);
    });
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    void this.exited.then(() => {
      for (const pending of this.waiting.values()) pending.reject(new Error(`runner exited: ${this.stderr.slice(-2000)}`));
      this.waiting.clear();
    });
  }

  request<T = unknown>(op: string, args: Record<string, unknown> = {}): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new Error(`runner request ${op} timed out; stderr: ${this.stderr.slice(-2000)}`));
      }, REQUEST_TIMEOUT_MS);
      this.waiting.set(id, {
        resolve: (value) => {
          clearTimeout(timer);
          resolve(value as T);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
      this.child.stdin?.write(`${JSON.stringify({ id, op, ...args })}\n`);
    });
  }

  /** Ends the process: closes stdin (it exits by itself), SIGKILL if it lingers. */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.stdin?.end();
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 3000);
    await this.exited;
    clearTimeout(timer);
  }

  private onLine(line: string): void {
    let reply: Reply;
    try {
      reply = JSON.parse(line) as Reply;
    } catch {
      return;
    }
    if (reply.event !== undefined) {
      this.emit('event', reply);
      return;
    }
    if (reply.id === undefined) return;
    const pending = this.waiting.get(reply.id);
    if (pending === undefined) return;
    this.waiting.delete(reply.id);
    if (reply.ok === true) pending.resolve(reply.result);
    else pending.reject(new Error(reply.error ?? 'runner error'));
  }
}

/**
 * Orders writes across the nodes of one site: advertise() on node A returns at once, as the
 * interface says, but a findHolders() on node B must not overtake it on its way to A's
 * process. In-process implementations get this ordering for free.
 */
class WriteBarrier {
  private writes: Promise<unknown>[] = [];
  track(write: Promise<unknown>): void {
    this.writes.push(write.catch(() => undefined));
  }
  async settled(): Promise<void> {
    const writes = this.writes;
    this.writes = [];
    await Promise.all(writes);
  }
}

export class RemoteDiscovery extends EventEmitter<PeerDiscoveryEvents> implements PeerDiscovery {
  private readonly live = new Map<string, Peer>();

  constructor(
    readonly runner: NodeProcess,
    private readonly barrier: WriteBarrier,
  ) {
    super();
    runner.on('event', (reply) => {
      const peer = reply.peer;
      if (peer === undefined) return;
      if (reply.event === 'peer-up') this.live.set(peer.id, peer);
      if (reply.event === 'peer-down') this.live.delete(peer.id);
      if (reply.event !== undefined) this.emit(reply.event, peer);
    });
  }

  async start(): Promise<void> {
    await this.runner.request('start');
  }

  async close(): Promise<void> {
    if (this.runner.child.exitCode !== null) return;
    await this.runner.request('close');
    this.live.clear();
  }

  peers(): Peer[] {
    return [...this.live.values()];
  }

  async findHolders(digest: string, options: { timeoutMs: number; firstAnswerOnly?: boolean }): Promise<Peer[]> {
    await this.barrier.settled();
    const result = await this.runner.request<{ peers: Peer[] }>('find', { digest, ...options });
    return result.peers;
  }

  advertise(digest: string): void {
    this.barrier.track(this.runner.request('advertise', { digests: [digest] }));
  }

  withdraw(digest: string): void {
    this.barrier.track(this.runner.request('withdraw', { digests: [digest] }));
  }
}

export interface MdnsTestSite {
  readonly site: Site;
  readonly nodes: RemoteDiscovery[];
  /** Expected identity of each node as its peers should see it. */
  readonly identities: Peer[];
  readonly sniffer: NodeProcess | undefined;
  destroy(): Promise<void>;
}

export const HTTP_PORT = 5000;

/**
 * Creates namespaces and one (unstarted) MdnsDiscovery runner per node, plus a sniffer.
 * `spare`: that many more namespaces on the same bridge, last in `site.namespaces`, for
 * whatever else the test runs there (an attacker).
 */
export async function launchMdnsSite(options: { nodes: number; ttlSeconds?: number; sniffer?: boolean; spare?: number }): Promise<MdnsTestSite> {
  const site = await createSite({ nodes: options.nodes + (options.sniffer === true ? 1 : 0) + (options.spare ?? 0) });
  const processes: NodeProcess[] = [];
  const spawnRunner = (namespace: string, config: unknown): NodeProcess => {
    const child = site.spawnIn(namespace, process.execPath, ['--import', 'tsx', RUNNER, JSON.stringify(config)], {
      cwd: REPO_ROOT,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const runner = new NodeProcess(child);
    processes.push(runner);
    return runner;
  };
  try {
    const barrier = new WriteBarrier();
    const nodeNamespaces = site.namespaces.slice(0, options.nodes);
    const identities = nodeNamespaces.map((ns, n) => ({ id: `node-${n}-${site.prefix}`, url: `http://${ns.address}:${HTTP_PORT}` }));
    const nodes = nodeNamespaces.map(
      (ns, n) =>
        new RemoteDiscovery(
          spawnRunner(ns.name, {
            mode: 'node',
            nodeId: identities[n]?.id,
            port: HTTP_PORT,
            interfaceAddress: ns.address,
            ttlSeconds: options.ttlSeconds,
          }),
          barrier,
        ),
    );
    const snifferNs = options.sniffer === true ? site.namespaces[options.nodes] : undefined;
    const sniffer = snifferNs === undefined ? undefined : spawnRunner(snifferNs.name, { mode: 'sniffer', address: snifferNs.address });
    // The sniffer must be listening before the nodes speak, or early packets go unmeasured.
    if (sniffer !== undefined) await sniffer.request('reset');
    return {
      site,
      nodes,
      identities,
      sniffer,
      async destroy() {
        await Promise.all(processes.map((runner) => runner.stop()));
        await site.destroy();
      },
    };
  } catch (error) {
    await Promise.all(processes.map((runner) => runner.stop()));
    await site.destroy();
    throw error;
  }
}
