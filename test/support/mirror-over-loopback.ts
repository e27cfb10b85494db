// The fixture of the describes that test the client API end to end: a LoopbackRegistry as
// the default upstream (`upstream.test`) and a mirror in front of it, started before the
// describe's tests and closed after them, mirror first.
import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import { LoopbackRegistry } from './loopback-registry.js';
import { startMirror, type MirrorUnderTest, type MirrorUnderTestOptions } from './mirror-under-test.js';

export interface MirrorOverLoopback {
  /** Add blobs, manifests and behaviours at any time; it is listening once the tests run. */
  readonly upstream: LoopbackRegistry;
  /** The mirror; there from the describe's `before` on. */
  readonly mirror: MirrorUnderTest;
}

/** Call inside a describe: registers that describe's before and after hooks. */
export function mirrorOverLoopback(options: Omit<MirrorUnderTestOptions, 'upstreams'> = {}): MirrorOverLoopback {
  const upstream = new LoopbackRegistry();
  let mirror: MirrorUnderTest | undefined;
  before(async () => {
    await upstream.start();
    mirror = await startMirror({ ...options, upstreams: [{ registry: 'upstream.test', url: upstream.url }] });
  });
  after(async () => {
    await mirror?.close();
    await upstream.stop();
  });
  return {
    upstream,
    get mirror() {
      return mirror ?? assert.fail('the mirror starts in the before hook of the describe');
    },
  };
}
