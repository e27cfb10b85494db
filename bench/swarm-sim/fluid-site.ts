// A site pulling an image, as fluid flows: no packets, no processes, just bytes moving at the
// max-min fair rates of the links they cross, from one event (a flow starts, a flow ends, a
// relay runs dry or has its first piece) to the next. Links, as bench/rollout.ts shapes them:
// one WAN link for the whole site (tbf on the router's veth), and a LAN port per node with its
// own rate in each direction (a switched LAN, so no shared medium). A node's own client reads
// over loopback and costs no link.
import { maxMinShare, type ShareFlow } from './max-min-share.js';
import { UPSTREAM } from './relay-layout.js';

export interface SiteSpec {
  readonly nodes: number;
  /** The image's layers, in the order the client (skopeo: one at a time) pulls them. */
  readonly layerBytes: readonly number[];
  /** `parents[layer][node]`: the node a node fetches that layer from, or UPSTREAM. */
  readonly parents: ReadonlyArray<readonly number[]>;
  /** The site's WAN link, bytes per second (both directions shaped alike; only one is used). */
  readonly wanRate: number;
  /** Round trip to the cloud registry, seconds: paid before a WAN flow's first byte. */
  readonly wanRtt: number;
  /** Each node's LAN port, bytes per second per direction. */
  readonly lanRate: number;
  /** Round trip between two nodes, seconds: paid before a LAN flow's first byte. */
  readonly lanRtt: number;
  /**
   * A relay passes bytes on in pieces of this size (download-reader gathers 64 KiB before it
   * wakes a follower), so a follower trails its parent by one piece until the parent has all.
   */
  readonly pieceBytes: number;
  /** Seconds a node waits before it goes upstream (the owner's holder lookup; 0 for direct). */
  readonly upstreamWait: number;
  /** Bound on the events simulated (a guard against a model bug, not a tuning knob). */
  readonly maxSteps?: number;
}

export interface SiteResult {
  /** When each node's client had the whole image, seconds from the common start. */
  readonly finish: readonly number[];
  readonly makespan: number;
  /** LAN bytes each node sent to other nodes. */
  readonly uploaded: readonly number[];
  /** Bytes that crossed the WAN. */
  readonly wanBytes: number;
  /** Events simulated. */
  readonly steps: number;
}

/** One layer moving into one node, from upstream or from the node's parent for that layer. */
interface Transfer {
  readonly node: number;
  readonly size: number;
  /** The parent's transfer of the same layer, or UPSTREAM. */
  readonly from: number;
  /** The parent node, or UPSTREAM. */
  readonly sender: number;
  /** When the first byte can arrive. */
  readonly start: number;
  readonly links: readonly number[];
  bytes: number;
  done: boolean;
}

/** Bytes closer than this count as equal (float noise over a few thousand steps). */
const BYTE_EPSILON = 1e-3;
/** Seconds closer than this count as the same instant, so a start is never missed by a rounding. */
const TIME_EPSILON = 1e-9;
const WAN = 0;
const up = (node: number): number => 1 + 2 * node;
const down = (node: number): number => 2 + 2 * node;

/** Simulates every node's client pulling the image at time 0, to the last node's last byte. */
export function simulateSite(spec: SiteSpec): SiteResult {
  const { nodes, layerBytes, parents, pieceBytes } = spec;
  if (parents.length !== layerBytes.length || parents.some((row) => row.length !== nodes)) throw new RangeError('parents must be one row of `nodes` entries per layer');
  const capacities = [spec.wanRate, ...Array.from({ length: nodes }, () => [spec.lanRate, spec.lanRate]).flat()];
  const transfers: Transfer[] = [];
  const transferOf = new Map<number, number>();
  const uploaded = Array.from({ length: nodes }, () => 0);
  const finish = Array.from({ length: nodes }, () => NaN);
  const clientLayer = Array.from({ length: nodes }, () => 0);
  let wanBytes = 0;

  // A request makes the node fetch the layer unless it already is; a relay that does not have
  // it yet asks its own parent, half a round trip later. Parents are created before children,
  // so a transfer's `from` always has a lower index.
  const fetch = (node: number, layer: number, at: number, depth = 0): number => {
    const key = layer * nodes + node;
    const known = transferOf.get(key);
    if (known !== undefined) return known;
    if (depth > nodes) throw new Error('relay parents form a cycle');
    const sender = parents[layer]![node]!;
    const size = layerBytes[layer]!;
    const transfer: Transfer =
      sender === UPSTREAM
        ? { node, size, from: UPSTREAM, sender, start: at + spec.upstreamWait + spec.wanRtt, links: [WAN, down(node)], bytes: 0, done: false }
        : { node, size, from: fetch(sender, layer, at + spec.lanRtt / 2, depth + 1), sender, start: at + spec.lanRtt, links: [up(sender), down(node)], bytes: 0, done: false };
    transfers.push(transfer);
    transferOf.set(key, transfers.length - 1);
    return transfers.length - 1;
  };
  // Each client pulls its layers one after another; a layer its node already holds (relayed
  // for someone else) is a local hit.
  const advanceClients = (now: number): void => {
    for (let node = 0; node < nodes; node++) {
      while (clientLayer[node]! < layerBytes.length && transfers[fetch(node, clientLayer[node]!, now)]!.done) clientLayer[node]! += 1;
      if (clientLayer[node] === layerBytes.length && Number.isNaN(finish[node])) finish[node] = now;
    }
  };
  const available = (transfer: Transfer): number => {
    if (transfer.from === UPSTREAM) return Infinity;
    const parent = transfers[transfer.from]!;
    return parent.done ? parent.size : Math.max(0, parent.bytes - pieceBytes);
  };

  const maxSteps = spec.maxSteps ?? 1_000_000;
  let now = 0;
  let steps = 0;
  advanceClients(now);
  while (finish.some(Number.isNaN)) {
    if (++steps > maxSteps) throw new Error(`simulateSite: more than ${maxSteps} events`);
    // Which transfers move now, and which of them are held to their parent's pace.
    const flows: ShareFlow[] = [];
    const moving: number[] = [];
    const flowOf = new Map<number, number>();
    for (const [index, transfer] of transfers.entries()) {
      if (transfer.done || transfer.start > now + TIME_EPSILON) continue;
      let follows: number | undefined;
      if (transfer.from !== UPSTREAM && transfer.bytes >= available(transfer) - BYTE_EPSILON) {
        const parent = transfers[transfer.from]!;
        const leader = flowOf.get(transfer.from);
        // Caught up: it moves only while the parent does, and only once the parent has a piece.
        if (parent.bytes < pieceBytes - BYTE_EPSILON || leader === undefined) continue;
        follows = leader;
      }
      flowOf.set(index, flows.length);
      moving.push(index);
      flows.push(follows === undefined ? { links: transfer.links } : { links: transfer.links, follows });
    }
    const rates = maxMinShare(capacities, flows);
    const rateOf = (index: number): number => {
      const flow = flowOf.get(index);
      return flow === undefined ? 0 : rates[flow]!;
    };

    // The next event: a start, an end, a first piece, or a relay's follower catching up.
    let step = Infinity;
    for (const transfer of transfers) if (transfer.start > now + TIME_EPSILON) step = Math.min(step, transfer.start - now);
    for (const [flow, index] of moving.entries()) {
      const transfer = transfers[index]!;
      const rate = rates[flow]!;
      if (rate <= 0) continue;
      step = Math.min(step, (transfer.size - transfer.bytes) / rate);
      if (transfer.bytes < pieceBytes - BYTE_EPSILON) step = Math.min(step, (pieceBytes - transfer.bytes) / rate);
      if (transfer.from === UPSTREAM || flows[flow]!.follows !== undefined || transfers[transfer.from]!.done) continue;
      const closing = rate - rateOf(transfer.from);
      if (closing > 0) step = Math.min(step, (available(transfer) - transfer.bytes) / closing);
    }
    if (step === Infinity) throw new Error(`simulateSite: nothing moves at ${now.toFixed(3)} s and the pull is not done (a relay waits on nothing)`);

    for (const [flow, index] of moving.entries()) {
      const transfer = transfers[index]!;
      const moved = rates[flow]! * step;
      transfer.bytes += moved;
      if (transfer.sender === UPSTREAM) wanBytes += moved;
      else uploaded[transfer.sender]! += moved;
    }
    now += step;
    // Parents first (lower index), so a child is checked against its parent's new state.
    for (const transfer of transfers) {
      const limit = Math.min(transfer.size, available(transfer));
      if (transfer.bytes > limit + 1) throw new Error(`simulateSite: node ${transfer.node} holds ${transfer.bytes - limit} bytes it could not have received`);
      if (transfer.bytes > limit) transfer.bytes = limit;
      if (!transfer.done && transfer.bytes >= transfer.size - BYTE_EPSILON) {
        transfer.bytes = transfer.size;
        transfer.done = true;
      }
    }
    advanceClients(now);
  }
  return { finish, makespan: Math.max(...finish), uploaded, wanBytes, steps };
}
