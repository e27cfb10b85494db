import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CrowdRelease } from '../server/crowd-release.js';

test('a crowd that leaves is collected (three times, 2 s apart) after the listener stayed nearly empty; ordinary traffic never is', () => {
  let open = 0;
  const collected: number[] = [];
  const release = new CrowdRelease(() => open, (peak) => collected.push(peak), 256, 2_000);
  try {
    // A handful of runtimes, for a long time: never a crowd.
    for (let at = 0; at < 60_000; at += 500) {
      open = (at / 500) % 10;
      release.check(at);
    }
    assert.deepEqual(collected, []);
    open = 1_500;
    release.check(60_000);
    // Leaving, but 100 still open (more than 1/16 of a crowd): not gone yet.
    open = 100;
    release.check(61_000);
    release.check(70_000);
    assert.deepEqual(collected, []);
    open = 3;
    release.check(71_000);
    release.check(72_500);
    assert.deepEqual(collected, [], 'collected before the listener had been quiet for 2 s');
    release.check(73_000);
    assert.deepEqual(collected, [1_500]);
    // Three collections 2 s apart (V8 gives the memory back over several), then no more.
    release.check(74_000);
    assert.deepEqual(collected, [1_500]);
    release.check(75_000);
    release.check(77_000);
    assert.deepEqual(collected, [1_500, 1_500, 1_500]);
    release.check(80_000);
    release.check(90_000);
    assert.deepEqual(collected, [1_500, 1_500, 1_500]);
    // A new crowd is collected again.
    open = 300;
    release.check(91_000);
    open = 0;
    release.check(92_000);
    release.check(94_000);
    assert.deepEqual(collected, [1_500, 1_500, 1_500, 300]);
  } finally {
    release.close();
  }
});
