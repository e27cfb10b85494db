import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { maxMinShare } from '../bench/swarm-sim/max-min-share.js';

function near(actual: readonly number[], expected: readonly number[]): void {
  assert.equal(actual.length, expected.length);
  for (const [index, value] of expected.entries()) assert.ok(Math.abs(actual[index]! - value) < 1e-9, `flow ${index}: ${actual[index]} ≠ ${value}`);
}

describe('maxMinShare', () => {
  it('gives one flow on one link the whole link', () => {
    near(maxMinShare([10], [{ links: [0] }]), [10]);
  });

  it('splits an uplink evenly between two flows, and gives the share one cannot use to the other', () => {
    // Links: the sender's uplink (10), then each receiver's downlink.
    near(maxMinShare([10, 100, 100], [{ links: [0, 1] }, { links: [0, 2] }]), [5, 5]);
    near(maxMinShare([10, 100, 3], [{ links: [0, 1] }, { links: [0, 2] }]), [7, 3]);
  });

  it('fills the tightest link first and lets the others rise (the textbook three-flow case)', () => {
    // B crosses both links; C shares the 4-wide one with it, A the 10-wide one: B = C = 2, A = 8.
    near(maxMinShare([10, 4], [{ links: [0] }, { links: [0, 1] }, { links: [1] }]), [8, 2, 2]);
  });

  it('holds a follower to its leader’s rate though its own links are wide (a relay that caught up)', () => {
    // The leader is the owner's WAN download (2); the follower's LAN links are 10 wide.
    near(maxMinShare([2, 10, 10], [{ links: [0] }, { links: [1, 2], follows: 0 }]), [2, 2]);
    // A follower whose own link is the narrower one is held by that link instead.
    near(maxMinShare([2, 1], [{ links: [0] }, { links: [1], follows: 0 }]), [2, 1]);
  });

  it('refuses a follower of a later flow and a flow that crosses nothing', () => {
    assert.throws(() => maxMinShare([1], [{ links: [0], follows: 1 }, { links: [0] }]), RangeError);
    assert.throws(() => maxMinShare([1], [{ links: [] }]), RangeError);
  });
});
