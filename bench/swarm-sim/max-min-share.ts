// Max-min fair rates of flows over shared links, by progressive filling: every flow's rate
// rises together until a link fills, the flows on it stop, the rest keep rising. That is the
// share long-lived TCP flows converge to behind tbf queues, which is what the rollout bench
// shapes its links with.

/** One flow: the links it crosses, and optionally a flow it may not outpace. */
export interface ShareFlow {
  /** Indexes into the capacity list. */
  readonly links: readonly number[];
  /**
   * Index of an earlier flow whose rate caps this one: a relay that has caught up with its
   * own download can pass bytes on no faster than they arrive. Such a flow stops rising when
   * the flow it follows stops.
   */
  readonly follows?: number;
}

/** A link counts as full once less than this fraction of it is left (float noise). */
const FULL = 1e-12;

/** The max-min fair rate of each flow (same units as the capacities). */
export function maxMinShare(capacities: readonly number[], flows: readonly ShareFlow[]): number[] {
  const rates = flows.map(() => 0);
  const remaining = [...capacities];
  const active = new Set(flows.keys());
  for (const [index, flow] of flows.entries()) {
    if (flow.follows !== undefined && !(flow.follows >= 0 && flow.follows < index)) {
      throw new RangeError(`flow ${index} follows ${flow.follows}: only an earlier flow can be followed`);
    }
    if (flow.links.length === 0 && flow.follows === undefined) throw new RangeError(`flow ${index} crosses no link and follows no flow: unbounded`);
    for (const link of flow.links) if (!(capacities[link]! >= 0)) throw new RangeError(`flow ${index} crosses unknown link ${link}`);
  }
  // Each round fills at least one link, or freezes followers with it, so the rounds are bounded.
  for (let round = 0; active.size > 0; round++) {
    if (round > flows.length) throw new Error('maxMinShare did not converge');
    const crossing = remaining.map(() => 0);
    for (const index of active) for (const link of flows[index]!.links) crossing[link]! += 1;
    let step = Infinity;
    for (const [link, count] of crossing.entries()) if (count > 0) step = Math.min(step, remaining[link]! / count);
    if (step === Infinity) throw new Error('maxMinShare: active flows cross no link (a follower of a flow that is not in the list?)');
    for (const index of active) rates[index]! += step;
    for (const [link, count] of crossing.entries()) {
      if (count === 0) continue;
      remaining[link]! -= step * count;
      if (remaining[link]! <= FULL * capacities[link]!) remaining[link] = 0;
    }
    for (const index of [...active]) if (flows[index]!.links.some((link) => remaining[link] === 0)) active.delete(index);
    // Followers stop with their leader; leaders come first, so one ordered pass suffices.
    for (const [index, flow] of flows.entries()) if (flow.follows !== undefined && active.has(index) && !active.has(flow.follows)) active.delete(index);
  }
  return rates;
}
