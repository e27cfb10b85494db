// One rollout of the model: K nodes pulling an image at once in a given layout, beside the
// figure every ratio is taken against (one node alone pulling straight from the cloud), in the
// units the rollout bench is driven with (tc rates in bit/s, one-way delay in ms).
import { createHash } from 'node:crypto';
import { simulateSite } from './fluid-site.js';
import { relayParents, type Layout } from './relay-layout.js';

export interface RolloutParams {
  readonly nodes: number;
  readonly layerBytes: readonly number[];
  /** The WAN's tc rate, bit/s. */
  readonly wanBitsPerSecond: number;
  /** One-way WAN delay, ms (the bench's delay proxy adds it in each direction). */
  readonly wanDelayMs: number;
  /** Each node's LAN port, bit/s per direction. */
  readonly lanBitsPerSecond: number;
  /** Round trip between nodes, ms. */
  readonly lanRttMs: number;
  readonly pieceBytes: number;
  /** What an owner waits for holders before going upstream (cli/edgepier-node.ts HOLDER_LOOKUP_MS). */
  readonly holderLookupMs: number;
}

export interface RolloutOutcome {
  readonly layout: Layout;
  readonly nodes: number;
  /** Seconds until the last node has the image. */
  readonly makespan: number;
  /** Seconds one node alone takes, pulling direct. */
  readonly alone: number;
  readonly maxUpload: number;
  readonly meanUpload: number;
  readonly wanBytes: number;
  readonly imageBytes: number;
  readonly steps: number;
}

/** A stable digest per layer, so owners and trees are the same on every run. */
export function layerDigest(index: number): string {
  return `sha256:${createHash('sha256').update(`swarm-sim layer ${index}`).digest('hex')}`;
}

export function memberIds(nodes: number): string[] {
  return Array.from({ length: nodes }, (_, node) => `node-${node}`);
}

function run(params: RolloutParams, nodes: number, layout: Layout): ReturnType<typeof simulateSite> {
  const members = memberIds(nodes);
  return simulateSite({
    nodes,
    layerBytes: params.layerBytes,
    parents: params.layerBytes.map((_, layer) => relayParents(layerDigest(layer), members, layout)),
    wanRate: params.wanBitsPerSecond / 8,
    wanRtt: (2 * params.wanDelayMs) / 1000,
    lanRate: params.lanBitsPerSecond / 8,
    lanRtt: params.lanRttMs / 1000,
    pieceBytes: params.pieceBytes,
    upstreamWait: layout.kind === 'direct' ? 0 : params.holderLookupMs / 1000,
  });
}

export function modelRollout(params: RolloutParams, layout: Layout): RolloutOutcome {
  const site = run(params, params.nodes, layout);
  const alone = run(params, 1, { kind: 'direct' });
  return {
    layout,
    nodes: params.nodes,
    makespan: site.makespan,
    alone: alone.makespan,
    maxUpload: Math.max(...site.uploaded),
    meanUpload: site.uploaded.reduce((sum, bytes) => sum + bytes, 0) / params.nodes,
    wanBytes: site.wanBytes,
    imageBytes: params.layerBytes.reduce((sum, bytes) => sum + bytes, 0),
    steps: site.steps,
  };
}
