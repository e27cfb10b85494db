import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { rankByRendezvous } from '../peer/rendezvous.js';
import { swarmPlace } from '../peer/swarm-tree.js';

const digest = `sha256:${createHash('sha256').update('layer').digest('hex')}`;
const members = Array.from({ length: 50 }, (_, n) => `node-${n}`);

function places(fanOut: number, ids: readonly string[] = members): Map<string, ReturnType<typeof swarmPlace>> {
  return new Map(ids.map((id) => [id, swarmPlace(digest, id, ids.filter((other) => other !== id), fanOut)]));
}

describe('swarmPlace', () => {
  it('gives the rendezvous owner position 0 and no one to fetch through', () => {
    const owner = rankByRendezvous(digest, members.map((id) => ({ id })))[0]!.id;
    assert.deepEqual(swarmPlace(digest, owner, members, 2), { position: 0, ancestors: [] });
  });

  it('ends every chain at the owner, each step to a strictly higher-ranked node', () => {
    const rank = new Map(rankByRendezvous(digest, members.map((id) => ({ id }))).map((peer, index) => [peer.id, index]));
    for (const [id, place] of places(2)) {
      let previous = rank.get(id)!;
      for (const ancestor of place.ancestors) {
        const next = rank.get(ancestor)!;
        assert.ok(next < previous, `${ancestor} (rank ${next}) must rank above ${previous}`);
        previous = next;
      }
      assert.equal(previous, 0, `${id}'s chain ends at the owner`);
    }
  });

  it('gives no node more than fanOut children, and a depth logarithmic in the site', () => {
    for (const fanOut of [1, 2, 3]) {
      const children = new Map<string, number>();
      let deepest = 0;
      for (const place of places(fanOut).values()) {
        const parent = place.ancestors[0];
        if (parent !== undefined) children.set(parent, (children.get(parent) ?? 0) + 1);
        deepest = Math.max(deepest, place.ancestors.length);
      }
      assert.ok(Math.max(...children.values()) <= fanOut, `fan-out ${fanOut}`);
      // A complete tree of n nodes with fan-out f has depth ⌈log_f(n(f-1)+1)⌉-1 (n-1 for a chain).
      const expected = fanOut === 1 ? members.length - 1 : Math.ceil(Math.log(members.length * (fanOut - 1) + 1) / Math.log(fanOut)) - 1;
      assert.equal(deepest, expected);
    }
  });

  it('sends every node straight to the owner when the fan-out is unbounded (the owner-only layout)', () => {
    const all = [...places(Infinity).values()];
    const owners = new Set(all.filter((place) => place.position > 0).map((place) => place.ancestors.join(',')));
    assert.equal(owners.size, 1);
    assert.ok(all.every((place) => place.ancestors.length <= 1));
  });

  it('does not depend on the order of the member list or on self being listed', () => {
    const reversed = [...members].reverse();
    assert.deepEqual(swarmPlace(digest, 'node-7', members, 2), swarmPlace(digest, 'node-7', reversed, 2));
    assert.deepEqual(swarmPlace(digest, 'node-7', members.filter((id) => id !== 'node-7'), 2), swarmPlace(digest, 'node-7', members, 2));
  });

  it('refuses a fan-out that is not a positive integer', () => {
    for (const fanOut of [0, -1, 1.5, Number.NaN]) assert.throws(() => swarmPlace(digest, 'a', [], fanOut), RangeError);
  });
});
