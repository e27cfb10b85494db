import { canonicalRegistryHost, DOCKER_HUB_HOST as DOCKER_HUB } from '../config/registry-host.js';
import { RegistryError } from '../oci/registry-error.js';
import { assertRepositoryName, isRegistryHost } from '../oci/repository-name.js';
import type { RegistryClient } from '../upstream/registry-client.js';

/** Where a request's name points: which upstream registry, and the repository there. */
export interface RegistryRoute {
  readonly registry: string;
  readonly repository: string;
  readonly client: RegistryClient;
  /** True when this node pulls from the registry with credentials: its content may be private. */
  readonly authenticated: boolean;
}

/**
 * Picks the upstream for a request, in the order the design fixes: containerd's `?ns=` query,
 * then a configured registry host as the first path segment (Podman's
 * `127.0.0.1:5000/ghcr.io` mirror form), then the default upstream.
 */
export class RegistryRouter {
  private readonly clients: ReadonlyMap<string, RegistryClient>;
  private readonly authenticated: ReadonlySet<string>;

  constructor(
    clients: Iterable<RegistryClient>,
    private readonly defaultRegistry: string,
    /** Registry hosts this node has credentials for. */
    authenticatedRegistries: Iterable<string> = [],
  ) {
    this.authenticated = new Set([...authenticatedRegistries].map(canonicalRegistryHost));
    this.clients = new Map([...clients].map((client) => [canonicalRegistryHost(client.registry), client]));
    if (!this.clients.has(canonicalRegistryHost(defaultRegistry))) {
      throw new Error(`default registry ${defaultRegistry} has no client`);
    }
  }

  get registries(): string[] {
    return [...this.clients.keys()];
  }

  resolve(name: string, namespace: string | undefined): RegistryRoute {
    if (namespace !== undefined) {
      return this.route(this.clientFor(namespace), name);
    }
    const slash = name.indexOf('/');
    const first = slash > 0 ? name.slice(0, slash) : '';
    if (first && this.clients.has(canonicalRegistryHost(first))) {
      return this.route(this.clientFor(first), name.slice(slash + 1));
    }
    if (first && isRegistryHost(first) && (first.includes(':') || first === 'localhost')) {
      throw unknownRegistry(first);
    }
    return this.route(this.clientFor(this.defaultRegistry), name);
  }

  private clientFor(host: string): RegistryClient {
    const client = this.clients.get(canonicalRegistryHost(host));
    if (!client) throw unknownRegistry(host);
    return client;
  }

  private route(client: RegistryClient, name: string): RegistryRoute {
    const registry = canonicalRegistryHost(client.registry);
    // Docker Hub's official images live under `library/`; clients may leave that implicit.
    const repository = registry === DOCKER_HUB && !name.includes('/') ? `library/${name}` : name;
    assertRepositoryName(repository);
    return { registry, repository, client, authenticated: this.authenticated.has(registry) };
  }
}

function unknownRegistry(host: string): RegistryError {
  return new RegistryError('NAME_UNKNOWN', `registry ${host.slice(0, 255)} is not mirrored here`, {
    detail: { registry: host.slice(0, 255) },
  });
}
