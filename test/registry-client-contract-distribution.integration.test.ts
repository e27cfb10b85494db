// The RegistryClient contract (test/support/registry-client-contract.ts) for GotRegistryClient
// against a real docker-registry process (distribution 2.8: a tag list, no referrers API).
import { pino } from 'pino';
import { GotRegistryClient } from '../upstream/got-registry-client.js';
import { startRegistry } from './support/registry-process.js';
import { registryClientContract, takingPushes } from './support/registry-client-contract.js';

registryClientContract('GotRegistryClient over docker-registry', async () => {
  const registry = await startRegistry();
  const client = new GotRegistryClient({ registry: registry.host, url: registry.url, timeoutMs: 10_000, logger: pino({ level: 'silent' }) });
  return takingPushes(registry, client, { referrers: 'none', tagList: true });
});
