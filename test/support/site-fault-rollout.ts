// One rollout on a WanSite with one fault struck mid-transfer, shared by
// test/rollout-faults.integration.test.ts and bench/rollout-faults.ts. K fresh EdgePier nodes
// (real CLI, mDNS mesh awaited), K skopeo pulls started at once, and, while they run, one of:
//   kill-serving-node  SIGKILL the rendezvous owner of the target layer once another node has
//                      received some of that layer from it; start it again on the same cache;
//   wan-cut            take the WAN link down once the owner has some of the target layer, for
//                      `cutMs`, then up again;
//   restart-node       SIGTERM a node that is receiving the target layer from its owner (and
//                      owns the largest other layer it can, so it serves too), then start it
//                      again on the same cache;
//   disk-full          the owner's cache is a small tmpfs, filled to ENOSPC once the owner has
//                      some of the target layer.
// A pull that fails is retried by the harness as a runtime would, but only on the node the
// fault took down, after it is back; any other failed pull fails the run (a source had the
// content). Every node must end with the image's exact bytes.
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { rankByRendezvous } from '../../peer/rendezvous.js';
import type { CloudRegistry } from './site-cloud-registry.js';
import { startSiteEdgePier, waitForMesh, type CachedBlob, type SiteEdgePier } from './site-edgepier.js';
import { mountSmallDisk, setWanLink, wanLinkIsUp, type SmallDisk } from './site-faults.js';
import { skopeoPullIn, verifyPulledDir, type ExpectedImage } from './site-pull.js';
import { spooledBytes, waitForSpooled } from './site-spool.js';
import type { WanSite } from './site-wan.js';

export const FAULTS = ['kill-serving-node', 'wan-cut', 'restart-node', 'disk-full'] as const;
export type Fault = (typeof FAULTS)[number];

/** Pulls of the node the fault took down are retried this often (each after the node is back). */
const RETRIES_ON_FAULTED_NODE = 3;
/** How long a SIGTERMed node may take to shut down by itself before it is killed. */
const SIGTERM_DEADLINE_MS = 20_000;

export interface FaultRolloutOptions {
  readonly wan: WanSite;
  readonly cloud: CloudRegistry;
  readonly image: ExpectedImage;
  readonly reference: string;
  readonly workDir: string;
  readonly nodes: number;
  /** Distinct per run: node ids (and so the owner ranking) and directories derive from it. */
  readonly tag: string;
  readonly fault: Fault | 'none';
  /** The layer the fault aims at (the image's largest, typically). */
  readonly target: string;
  /** Fraction of the target layer that must have moved before the fault strikes. Default 0.25. */
  readonly strikeAt?: number;
  /** How long the WAN stays down (wan-cut). Default 10 s. */
  readonly cutMs?: number;
  /** Size of the owner's tmpfs (disk-full). Default: twice the image. */
  readonly diskBytes?: number;
  readonly pullTimeoutMs?: number;
  /** Deadline for the fault's trigger (the target's bytes to start moving). */
  readonly strikeDeadlineMs?: number;
  readonly verify?: 'bytes' | 'sha256';
  readonly edgepierArgs?: readonly string[];
  readonly log?: (message: string) => void;
}

export interface FaultRolloutResult {
  readonly fault: Fault | 'none';
  /** Per node, seconds from the common start to its last (successful) skopeo exit. */
  readonly times: readonly number[];
  readonly makespan: number;
  /** Per node, pulls retried after the fault took the node down. */
  readonly retries: readonly number[];
  /** Node ids, in node order. */
  readonly nodeIds: readonly string[];
  /** The node the fault struck (undefined for `none` and `wan-cut`). */
  readonly victim: string | undefined;
  /** The target layer's rendezvous owner. */
  readonly owner: string;
  /** Seconds from the start to the strike (undefined for `none`). */
  readonly struckAt: number | undefined;
  /** Bytes of the target layer the trigger saw before striking. */
  readonly struckAfterBytes: number | undefined;
  readonly wanToSite: number;
  /** Successful blob GETs the cloud served during the run. */
  readonly blobGets: number;
  /** Blob GETs the cloud answered 206 (a download resumed with Range). */
  readonly rangeGets: number;
  /** Per node (every incarnation), where the target layer was committed from, e.g. `upstream`, `peer:x`; `-` when never cached. */
  readonly targetSources: readonly string[];
  /**
   * Blobs the victim committed before it went down and then downloaded again after it came
   * back (restarting on its cache must keep them); empty when the fault restarts nobody.
   */
  readonly refetchedAfterRestart: readonly string[];
  /** How the victim's first process ended: `SIGKILL`, `code 0`, ... */
  readonly victimExit: string | undefined;
  /** Seconds from the victim's exit until it was back and saw every peer again. */
  readonly downFor: number | undefined;
  /** Blobs the victim had committed before it went down. */
  readonly cachedBeforeRestart: number;
  /** `blob cached` entries, per node id (every incarnation, in order). */
  readonly cached: ReadonlyMap<string, readonly CachedBlob[]>;
  /** Warn-or-worse log lines, per node id (every incarnation). */
  readonly warnings: ReadonlyMap<string, readonly string[]>;
  /** Error-level log lines, per node id (every incarnation). */
  readonly errors: ReadonlyMap<string, readonly string[]>;
}

/** The id that ranks first for `digest` among `ids`: the node every member sends it through. */
export function ownerOf(digest: string, ids: readonly string[]): string {
  const [first] = rankByRendezvous(digest, ids.map((id) => ({ id })));
  if (!first) throw new Error('no nodes to rank');
  return first.id;
}

export async function runFaultRollout(options: FaultRolloutOptions): Promise<FaultRolloutResult> {
  const log = options.log ?? ((): void => undefined);
  const namespaces = options.wan.nodes.slice(0, options.nodes);
  if (namespaces.length < options.nodes) throw new Error(`the site has ${options.wan.nodes.length} nodes, ${options.nodes} asked`);
  const nodeIds = namespaces.map((_, n) => `${options.tag}-n${n}`);
  const targetSize = options.image.blobs.get(options.target)?.length;
  if (targetSize === undefined) throw new Error(`${options.target} is not a blob of the image`);
  const owner = nodeIds.indexOf(ownerOf(options.target, nodeIds));
  const victim = pickVictim(options, nodeIds, owner);
  const strikeBytes = Math.max(1, Math.round(targetSize * (options.strikeAt ?? 0.25)));
  const cacheDirs = namespaces.map((_, n) => join(options.workDir, `${options.tag}-cache${n}`));
  const pullDirs = namespaces.map((_, n) => join(options.workDir, `${options.tag}-pull${n}`));
  const incarnations: SiteEdgePier[][] = namespaces.map(() => []);
  const current: (SiteEdgePier | undefined)[] = namespaces.map(() => undefined);
  let disk: SmallDisk | undefined;
  let wanDown = false;
  const start = async (n: number): Promise<SiteEdgePier> => {
    const node = await startSiteEdgePier(namespaces[n] ?? unreachable(), {
      nodeId: nodeIds[n] ?? unreachable(),
      upstream: options.cloud.url,
      cacheDir: cacheDirs[n] ?? unreachable(),
      args: ['--log-level', 'info', ...(options.edgepierArgs ?? [])],
    });
    incarnations[n]?.push(node);
    current[n] = node;
    return node;
  };
  try {
    if (options.fault === 'disk-full') {
      disk = await mountSmallDisk(options.diskBytes ?? 2 * totalBytes(options.image));
      cacheDirs[owner] = disk.path;
    }
    // One at a time: K tsx start-ups at once on a loaded 2-core machine overrun the start deadline.
    for (let n = 0; n < namespaces.length; n += 1) await start(n);
    await waitForMesh(current.filter((node): node is SiteEdgePier => node !== undefined), 30_000);

    // The faulted node's pulls wait on this gate before retrying; it opens once the node is back.
    let back: Promise<void> = Promise.resolve();
    let tookDown: number | undefined;
    const wanBefore = await options.wan.wanCounters();
    const logStart = options.cloud.accessLog.length;
    const started = performance.now();
    const retries = namespaces.map(() => 0);
    const pull = async (n: number): Promise<number> => {
      for (let attempt = 0; ; attempt += 1) {
        const node = current[n] ?? unreachable();
        await rm(pullDirs[n] ?? unreachable(), { recursive: true, force: true });
        try {
          const done = await skopeoPullIn(node.namespace.name, node.localHost, options.reference, pullDirs[n] ?? unreachable(), options.pullTimeoutMs ?? 10 * 60_000);
          return (done.endedAt - started) / 1000;
        } catch (error) {
          // Only the node the fault took down may fail its pull; anything else is a finding.
          if (tookDown !== n || attempt >= RETRIES_ON_FAULTED_NODE) throw error;
          log(`${nodeIds[n] ?? ''}: pull failed while the node was down, retrying once it is back (${firstLine(error)})`);
          retries[n] = (retries[n] ?? 0) + 1;
          await back;
        }
      }
    };

    let victimExit: string | undefined;
    let downFor: number | undefined;
    let struckAt: number | undefined;
    let struckAfterBytes: number | undefined;
    const strike = async (): Promise<void> => {
      if (options.fault === 'none') return;
      const deadline = options.strikeDeadlineMs ?? 5 * 60_000;
      // Evidence that the target layer is moving: a receiving node for the faults that hit a
      // transfer between nodes, the owner itself for the ones that hit its download.
      const watched = options.fault === 'kill-serving-node' || options.fault === 'restart-node' ? receiver(nodeIds, owner, victim) : owner;
      await waitForSpooled(cacheDirs[watched] ?? unreachable(), options.target, strikeBytes, deadline);
      struckAfterBytes = await spooledBytes(cacheDirs[watched] ?? unreachable(), options.target);
      struckAt = (performance.now() - started) / 1000;
      log(`${options.fault} at ${struckAt.toFixed(1)} s (${nodeIds[watched] ?? ''} had ${struckAfterBytes} of ${targetSize} bytes of the target)`);
      switch (options.fault) {
        case 'kill-serving-node':
        case 'restart-node': {
          const n = victim ?? unreachable();
          const node = current[n] ?? unreachable();
          let open: () => void = () => undefined;
          back = new Promise((resolve) => (open = resolve));
          tookDown = n;
          if (options.fault === 'kill-serving-node') node.process.killNow();
          else sigterm(node);
          const exit = await node.process.exited;
          victimExit = exit.signal ?? `code ${String(exit.code)}`;
          downFor = performance.now();
          log(`${node.nodeId} exited (${victimExit}); starting it again on the same cache`);
          const again = await start(n);
          await again.waitForPeers(nodeIds.filter((_, other) => other !== n), 30_000);
          downFor = (performance.now() - downFor) / 1000;
          open();
          return;
        }
        case 'wan-cut':
          await setWanLink(options.wan, 'down');
          wanDown = true;
          // The cut's length is the fault itself, not a wait for an event.
          await new Promise((resolve) => setTimeout(resolve, options.cutMs ?? 10_000));
          await setWanLink(options.wan, 'up');
          wanDown = false;
          if (!(await wanLinkIsUp(options.wan))) throw new Error('the WAN link did not come back up');
          log('WAN link up again');
          return;
        case 'disk-full': {
          const took = await (disk ?? unreachable()).fill();
          log(`${nodeIds[owner] ?? ''}'s disk is full (the filler took ${took} bytes)`);
          return;
        }
      }
    };
    const [times] = await Promise.all([Promise.all(namespaces.map((_, n) => pull(n))), strike()]);
    const after = await options.wan.wanCounters();
    for (const dir of pullDirs) await verifyPulledDir(dir, options.image, options.verify ?? 'sha256');
    let blobGets = 0;
    for (const byClient of options.cloud.blobGets(logStart).values()) for (const count of byClient.values()) blobGets += count;
    const rangeGets = options.cloud.accessLog.slice(logStart).filter((record) => record.method === 'GET' && record.status === 206 && record.path.includes('/blobs/')).length;
    const every = (pick: (node: SiteEdgePier) => readonly string[]): Map<string, readonly string[]> =>
      new Map(nodeIds.map((id, n) => [id, (incarnations[n] ?? []).flatMap(pick)]));
    const [first, ...later] = victim === undefined ? [] : (incarnations[victim] ?? []);
    const before = new Set(first && later.length > 0 ? first.cached.map((blob) => blob.digest) : []);
    const refetchedAfterRestart = later.flatMap((node) => node.cached.map((blob) => blob.digest)).filter((digest) => before.has(digest));
    return {
      fault: options.fault,
      refetchedAfterRestart,
      victimExit,
      downFor,
      cachedBeforeRestart: before.size,
      times,
      makespan: Math.max(...times),
      retries,
      nodeIds,
      victim: victim === undefined ? undefined : nodeIds[victim],
      owner: nodeIds[owner] ?? unreachable(),
      struckAt,
      struckAfterBytes,
      wanToSite: after.toSite - wanBefore.toSite,
      blobGets,
      rangeGets,
      targetSources: incarnations.map((nodes) => describeTarget(nodes.flatMap((node) => node.cached), options.target)),
      cached: new Map(nodeIds.map((id, n) => [id, (incarnations[n] ?? []).flatMap((node) => node.cached)])),
      warnings: every((node) => node.warnings),
      errors: every((node) => node.errors),
    };
  } catch (error) {
    const tails = incarnations.flat().map((node) => node.process.diagnostics().split('\n').slice(-25).join('\n'));
    throw new Error(`${options.tag} (${options.fault}): ${error instanceof Error ? error.message : String(error)}\n${tails.join('\n')}`, { cause: error });
  } finally {
    if (wanDown) await setWanLink(options.wan, 'up').catch(() => undefined);
    await Promise.all(incarnations.flat().map((node) => node.stop()));
    await Promise.all([...cacheDirs, ...pullDirs].filter((dir) => dir !== disk?.path).map((dir) => rm(dir, { recursive: true, force: true })));
    await disk?.remove();
  }
}

/**
 * SIGTERM by pid, SIGKILL only if the node has not exited by then: EdgePier gives in-flight
 * responses 5 s and then says goodbye, longer than NamespaceProcess.stop() waits.
 */
function sigterm(node: SiteEdgePier): void {
  const pid = node.process.pid ?? unreachable();
  process.kill(pid, 'SIGTERM');
  const timer = setTimeout(() => node.process.killNow(), SIGTERM_DEADLINE_MS);
  void node.process.exited.then(() => clearTimeout(timer));
}

/** The node the fault takes down: the owner (kill), or a receiver of the target that owns another layer when one does (restart). */
function pickVictim(options: FaultRolloutOptions, nodeIds: readonly string[], owner: number): number | undefined {
  if (options.fault === 'kill-serving-node') return owner;
  if (options.fault !== 'restart-node') return undefined;
  // Largest first, so the victim serves a real layer to the others, not the tiny config.
  const others = [...options.image.blobs].filter(([digest]) => digest !== options.target).sort(([, a], [, b]) => b.length - a.length);
  const owners = others.map(([digest]) => nodeIds.indexOf(ownerOf(digest, nodeIds))).filter((n) => n !== owner);
  return owners[0] ?? (owner + 1) % nodeIds.length;
}

/** A node receiving the target from its owner, other than `victim` when possible (kill: the victim is the owner). */
function receiver(nodeIds: readonly string[], owner: number, victim: number | undefined): number {
  if (victim !== undefined && victim !== owner) return victim;
  return (owner + 1) % nodeIds.length;
}

function describeTarget(cached: readonly CachedBlob[], target: string): string {
  const sources = cached.filter((blob) => blob.digest === target).map((blob) => blob.source);
  return sources.length === 0 ? '-' : sources.join('+');
}

function totalBytes(image: ExpectedImage): number {
  let sum = 0;
  for (const bytes of image.contents.values()) sum += bytes.length;
  return sum;
}

function firstLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split('\n')[0] ?? '';
}

function unreachable(): never {
  throw new Error('index out of range');
}
