// Issue 15: with upstream down, a question to the site is bounded by concurrency and count,
// whatever the number of peers (300 peers once took RSS from 94 to 782 MB for one request).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { fanOut } from '../peer/bounded-fan-out.js';

describe('bounded fan-out', () => {
  test('300 peers: at most 8 in flight, at most 32 asked, every answer handed over as it comes', async () => {
    const peers = Array.from({ length: 300 }, (_, index) => index);
    let inFlight = 0;
    let maxInFlight = 0;
    const asked: number[] = [];
    const taken: number[] = [];
    await fanOut(
      peers,
      { concurrency: 8, limit: 32 },
      async (peer) => {
        asked.push(peer);
        inFlight += 1;
        maxInFlight = Math.max(maxInFlight, inFlight);
        // Settles on a later turn, so the workers really overlap.
        await new Promise((resolve) => setImmediate(resolve));
        inFlight -= 1;
        return peer % 3 === 0 ? undefined : peer;
      },
      (answer) => {
        taken.push(answer);
        return false;
      },
    );
    assert.equal(maxInFlight, 8);
    assert.equal(asked.length, 32);
    assert.deepEqual(new Set(asked), new Set(peers.slice(0, 32)));
    assert.equal(taken.length, 32 - Math.ceil(32 / 3), 'no answer is dropped and none is invented');
  });

  test('an answer that suffices stops the peers not yet asked from being asked', async () => {
    const asked: number[] = [];
    await fanOut(
      Array.from({ length: 100 }, (_, index) => index),
      { concurrency: 4, limit: 32 },
      (peer) => {
        asked.push(peer);
        return Promise.resolve(peer === 5 ? 'found' : undefined);
      },
      (answer) => answer === 'found',
    );
    assert.ok(asked.length <= 5 + 4, `stopped soon after the answer (${asked.length} asked)`);
    assert.ok(asked.includes(5));
  });

  test('no peers: nothing asked, no hang', async () => {
    let asked = 0;
    await fanOut([], { concurrency: 8, limit: 32 }, () => {
      asked += 1;
      return Promise.resolve(1);
    }, () => true);
    assert.equal(asked, 0);
  });
});
