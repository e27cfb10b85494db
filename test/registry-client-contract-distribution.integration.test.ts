// The RegistryClient contract (test/support/registry-client-contract.ts) for GotRegistryClient
// against a real docker-registry process (distribution 2.8: a tag list, no referrers API).
import { pino } from 'pino';
import { GotRegistryClient } from '../upstream/got-registry-client.js';
import { pushBlob, pushManifest } from './support/oci-push.js';
import { startRegistry } from './support/registry-process.js';
import { registryClientContract } from './support/registry-client-contract.js';

registryClientContract('GotRegistryClient over docker-registry', async () => {
  const registry = await startRegistry();
  return {
    client: new GotRegistryClient({ registry: registry.host, url: registry.url, timeoutMs: 10_000, logger: pino({ level: 'silent' }) }),
    url: registry.url,
    putBlob: async (repository, bytes) => {
      await pushBlob(registry.url, repository, bytes);
    },
    putManifest: async (repository, tag, body, mediaType) => {
      await pushManifest(registry.url, repository, tag, body, mediaType);
    },
    referrers: 'none',
    tagList: true,
    stop: () => registry.stop(),
  };
});
