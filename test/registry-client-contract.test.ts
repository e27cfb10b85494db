// The RegistryClient contract (test/support/registry-client-contract.ts) for GotRegistryClient
// over the two loopback registries of the tests: LoopbackRegistry (the one that misbehaves on
// demand; no tag list, no referrers API) and ReferrersRegistry (tag list with paging, OCI 1.1
// referrers). The real docker-registry run is test/registry-client-contract-distribution.integration.test.ts.
// There is no in-memory RegistryClient fake: the layers above are tested against these servers.
import { pino } from 'pino';
import { GotRegistryClient } from '../upstream/got-registry-client.js';
import { LoopbackRegistry } from './support/loopback-registry.js';
import { ReferrersRegistry } from './support/referrers-registry.js';
import { registryClientContract, takingPushes } from './support/registry-client-contract.js';

const silent = pino({ level: 'silent' });

function clientOf(url: string): GotRegistryClient {
  return new GotRegistryClient({ registry: 'contract.test', url, timeoutMs: 10_000, logger: silent });
}

registryClientContract('GotRegistryClient over LoopbackRegistry', async () => {
  const registry = new LoopbackRegistry();
  await registry.start();
  return {
    client: clientOf(registry.url),
    url: registry.url,
    putBlob: (_repository, bytes) => {
      registry.addBlob(bytes);
      return Promise.resolve();
    },
    putManifest: (repository, tag, body, mediaType) => {
      registry.addManifest(repository, tag, JSON.parse(body.toString()) as object, mediaType);
      return Promise.resolve();
    },
    referrers: 'none',
    tagList: false,
    stop: () => registry.stop(),
  };
});

registryClientContract('GotRegistryClient over ReferrersRegistry', async () => {
  const registry = new ReferrersRegistry();
  await registry.start();
  return takingPushes(registry, clientOf(registry.url), { referrers: 'api', tagList: true });
});
