import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { simulateSite, type SiteSpec } from '../bench/swarm-sim/fluid-site.js';
import { relayParents, UPSTREAM } from '../bench/swarm-sim/relay-layout.js';
import { layerDigest, memberIds } from '../bench/swarm-sim/rollout-model.js';

// Round numbers so every answer below can be worked out by hand: bytes, bytes per second, seconds.
const base: Omit<SiteSpec, 'nodes' | 'parents'> = {
  layerBytes: [1000],
  wanRate: 100,
  wanRtt: 0,
  lanRate: 100,
  lanRtt: 0,
  pieceBytes: 10,
  upstreamWait: 0,
};

function near(actual: number, expected: number, what: string): void {
  assert.ok(Math.abs(actual - expected) < 1e-6, `${what}: ${actual} ≠ ${expected}`);
}

describe('simulateSite', () => {
  it('moves one flow over one link at the link rate, after the round trip and the wait', () => {
    const result = simulateSite({ ...base, nodes: 1, parents: [[UPSTREAM]], wanRtt: 0.5, upstreamWait: 0.25 });
    near(result.makespan, 0.25 + 0.5 + 1000 / 100, 'makespan');
    near(result.wanBytes, 1000, 'WAN bytes');
  });

  it('shares an owner’s uplink between two followers (owner-only, K = 3)', () => {
    // The owner gets the WAN's 100 B/s and is done at 10 s. The followers wait for its first
    // 10-byte piece (0.1 s), then its uplink (100) gives each 50 B/s, slower than the owner
    // receives, so they never catch up: 0.1 + 1000 / 50 = 20.1 s.
    const result = simulateSite({ ...base, nodes: 3, parents: [[UPSTREAM, 0, 0]] });
    near(result.finish[0]!, 10, 'owner');
    near(result.finish[1]!, 20.1, 'follower 1');
    near(result.finish[2]!, 20.1, 'follower 2');
    near(result.uploaded[0]!, 2000, 'owner upload');
    near(result.wanBytes, 1000, 'WAN bytes');
  });

  it('holds a child to its parent’s pace one piece behind, then lets it finish the last piece at its own rate', () => {
    // Parent: WAN 100 B/s, done at 10 s. Child: its LAN is 1000 B/s, but it trails the parent by
    // one 10-byte piece at 100 B/s; at 10 s it has 990 bytes, the last 10 take 10 / 1000 s.
    const result = simulateSite({ ...base, nodes: 2, parents: [[UPSTREAM, 0]], lanRate: 1000 });
    near(result.finish[0]!, 10, 'parent');
    near(result.finish[1]!, 10.01, 'child');
  });

  it('finishes a chain of three in about one pull, where owner-only takes two (K = 3, the real scheduler’s layouts)', () => {
    // Chain 0 → 1 → 2, all links 100 B/s: each relay trails its parent by one 10-byte piece.
    // Node 0 is done at 10 s; node 1 then has 990 bytes and needs 0.1 s more (10.1 s); node 2
    // had 980 at 10 s, follows node 1 to 990 at 10.1 s, then 0.1 s more: 10.2 s.
    const chain = simulateSite({ ...base, nodes: 3, parents: [[UPSTREAM, 0, 1]] });
    near(chain.finish[1]!, 10.1, 'chain node 1');
    near(chain.makespan, 10.2, 'chain makespan');
    assert.equal(Math.max(...chain.uploaded), 1000);
    // The same two layouts as the real scheduler builds them, whichever node it makes the owner.
    const members = memberIds(3);
    const layouts = [
      { fanOut: Infinity, makespan: 20.1 },
      { fanOut: 1, makespan: 10.2 },
    ];
    for (const { fanOut, makespan } of layouts) {
      const parents = [relayParents(layerDigest(0), members, { kind: 'edgepier', fanOut })];
      near(simulateSite({ ...base, nodes: 3, parents }).makespan, makespan, `swarmPlace fanOut ${fanOut}`);
    }
  });

  it('pulls layers one after another, a relay asking its parent for the next layer early', () => {
    // Two 1000-byte layers; node 0 owns layer 0, node 1 owns layer 1; every link 100 B/s, 1-byte
    // pieces. Layer 0: node 0 is done at 10 s, node 1 one byte behind at 10.01 s. At 10 s node 0
    // asks node 1 for layer 1, so node 1 goes upstream while its own last byte of layer 0 is
    // still coming: the two share its downlink at 50 B/s each until 10.02 s (layer 0 done,
    // 1 byte of layer 1), then layer 1 runs at 100 B/s: 999 bytes, done at 20.01 s. Node 0
    // trails it by one byte: 20.02 s.
    const result = simulateSite({ ...base, nodes: 2, layerBytes: [1000, 1000], pieceBytes: 1, parents: [[UPSTREAM, 0], [1, UPSTREAM]] });
    near(result.finish[1]!, 20.01, 'node 1');
    near(result.finish[0]!, 20.02, 'node 0');
    near(result.wanBytes, 2000, 'WAN bytes: each layer once');
    near(result.uploaded[0]!, 1000, 'node 0 upload');
    near(result.uploaded[1]!, 1000, 'node 1 upload');
  });

  it('stops at the step bound instead of running on', () => {
    assert.throws(() => simulateSite({ ...base, nodes: 3, parents: [[UPSTREAM, 0, 1]], maxSteps: 2 }), /more than 2 events/);
  });
});

describe('simulateSite at site scale, on the real layouts', () => {
  it('crosses the WAN once, uploads each follower’s copy once, and never beats one node alone (K = 50)', () => {
    const nodes = 50;
    const members = memberIds(nodes);
    const spec = { ...base, wanRtt: 0.04, lanRtt: 0.0002, lanRate: 200, pieceBytes: 1, upstreamWait: 0.15 };
    const alone = 0.04 + 1000 / 100;
    for (const fanOut of [Infinity, 1, 2, 3]) {
      const parents = [relayParents(layerDigest(0), members, { kind: 'edgepier', fanOut })];
      const result = simulateSite({ ...spec, nodes, parents });
      near(result.wanBytes, 1000, `fanOut ${fanOut}: WAN bytes`);
      near(result.uploaded.reduce((sum, bytes) => sum + bytes, 0), (nodes - 1) * 1000, `fanOut ${fanOut}: LAN bytes`);
      assert.ok(Math.max(...result.uploaded) <= Math.min(fanOut, nodes - 1) * 1000 + 1e-6, `fanOut ${fanOut}: no node uploads more than fanOut copies`);
      assert.ok(result.makespan > alone, `fanOut ${fanOut}: ${result.makespan} s beats one node alone`);
      // The uplinks (200 B/s) carry every child at the WAN's 100 B/s up to f = 2; owner-only
      // splits one uplink 49 ways: 49 × 1000 / 200 = 245 s.
      if (fanOut <= 2) assert.ok(result.makespan < alone * 1.1, `fanOut ${fanOut}: ${result.makespan} s`);
      if (fanOut === Infinity) near(Math.round(result.makespan), 245, 'owner-only makespan');
    }
  });
});
