import { canonicalRegistryHost, DOCKER_HUB_HOST, parseRegistryHost } from '../../config/registry-host.js';
import { readCommandArgs, UsageError } from '../commands/command-args.js';
import { loadNodeSettings, type NodeSettingsInput } from '../commands/node-settings.js';

export const RUNTIMES = ['containerd', 'docker', 'podman', 'k3s', 'systemd'] as const;
export type Runtime = (typeof RUNTIMES)[number];

/** Where each runtime reads the file(s) we write. `--config-dir` replaces it. */
export const DEFAULT_CONFIG_DIRS: Readonly<Record<Runtime, string>> = {
  containerd: '/etc/containerd/certs.d',
  docker: '/etc/docker',
  podman: '/etc/containers/registries.conf.d',
  k3s: '/etc/rancher/k3s',
  systemd: '/etc/systemd/system',
};

export interface SetupOptions {
  readonly runtime: Runtime;
  readonly write: boolean;
  /** `http://127.0.0.1:5000`: scheme, host and port, no trailing slash. */
  readonly mirrorUrl: URL;
  /** Canonical registry hosts (`docker.io`, `ghcr.io`), deduplicated, in the order given. */
  readonly registries: readonly string[];
  /** Registry hosts the node has an upstream for (its `--upstream` settings). */
  readonly upstreamHosts: readonly string[];
  readonly configDir: string;
  /** The `serve` settings given on this command line, for the systemd unit to keep. */
  readonly settingsArgv: readonly string[];
}

export const SETUP_USAGE = `usage: edgepier setup containerd|docker|podman|k3s|systemd [--write] [--mirror-url URL] [--registry HOST ...]
                      [--config-dir DIR] [serve settings: --config FILE, --listen HOST:PORT, --upstream ...]

Prints the mirror configuration pointing at this node (on stdout, its path on stderr); with
--write, writes it (an existing file is first copied to FILE.bak-<timestamp>).
  containerd   <config dir>/<registry>/hosts.toml for each registry
  docker       daemon.json with registry-mirrors (Docker Hub only)
  podman       a registries.conf.d drop-in (Podman, Buildah, Skopeo, CRI-O)
  k3s          registries.yaml mirrors (k3s and RKE2 read it at start)
  systemd      edgepier.service: a hardened unit that runs serve with these settings
  --mirror-url URL   this node as the runtime reaches it (default: from --listen, EDGEPIER_LISTEN
                     or --config, as serve reads them; a wildcard address becomes 127.0.0.1)
  --registry HOST    a registry to mirror, repeatable (default: the node's --upstream hosts);
                     the node needs an upstream for each (--upstream HOST=URL)
  --config-dir DIR   where the runtime reads the file (default: containerd ${DEFAULT_CONFIG_DIRS.containerd},
                     docker ${DEFAULT_CONFIG_DIRS.docker}, podman ${DEFAULT_CONFIG_DIRS.podman},
                     k3s ${DEFAULT_CONFIG_DIRS.k3s}, systemd ${DEFAULT_CONFIG_DIRS.systemd})
  --write            write the files instead of printing them`;

export type ParsedSetup = { readonly ok: true; readonly options: SetupOptions } | { readonly ok: false; readonly errors: string[] } | { readonly ok: 'help' };

/** `http(s)://host:port` only: runtimes append `/v2/...` (Podman: `/<registry>`) themselves. */
export function parseMirrorUrl(text: string): URL | string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return `--mirror-url ${JSON.stringify(text)} is not a URL (example: http://127.0.0.1:5000)`;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return `--mirror-url must be http:// or https://, got ${url.protocol}`;
  if (url.pathname !== '/' || url.search !== '' || url.hash !== '' || url.username !== '' || url.password !== '') {
    return `--mirror-url takes a scheme, host and port only (example: http://127.0.0.1:5000)`;
  }
  return url;
}

/** Every problem at once, like the config loader. */
export function parseSetupArgs(args: readonly string[], input: NodeSettingsInput = { env: process.env }): ParsedSetup {
  const [runtimeText, ...rest] = args;
  if (runtimeText === undefined) return { ok: false, errors: [`name a runtime: ${RUNTIMES.join(', ')}`] };
  if (runtimeText === '--help' || runtimeText === '-h' || rest.includes('--help') || rest.includes('-h')) return { ok: 'help' };
  const errors: string[] = [];
  const runtime = (RUNTIMES as readonly string[]).includes(runtimeText) ? (runtimeText as Runtime) : undefined;
  if (!runtime) errors.push(`unknown runtime '${runtimeText}' (expected ${RUNTIMES.join(', ')})`);
  const parsed = readCommandArgs(rest, { values: ['--mirror-url', '--config-dir'], lists: ['--registry'], switches: ['--write'] });
  errors.push(...parsed.problems);
  for (const positional of parsed.positionals) errors.push(`unexpected argument '${positional}'`);
  const registries: string[] = [];
  for (const text of parsed.lists.get('--registry') ?? []) {
    for (const item of text.split(',').filter((part) => part.trim() !== '')) {
      const host = parseRegistryHost(item);
      if (host.ok) registries.push(canonicalRegistryHost(host.value));
      else errors.push(`--registry: ${host.errors.join('; ')}`);
    }
  }
  let mirrorUrl: URL | undefined;
  let upstreamHosts: string[] = [DOCKER_HUB_HOST];
  try {
    const node = loadNodeSettings(parsed, input);
    upstreamHosts = Object.keys(node.config.upstreams.byHost);
    const given = parsed.values.get('--mirror-url');
    const url = given === undefined ? node.url : parseMirrorUrl(given);
    if (typeof url === 'string') errors.push(url);
    else mirrorUrl = url;
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    errors.push(error.message);
  }
  const configDir = parsed.values.get('--config-dir');
  if (configDir !== undefined && configDir.trim() === '') errors.push('--config-dir is empty');
  if (errors.length > 0 || !runtime || mirrorUrl === undefined) return { ok: false, errors };
  // Docker's registry-mirrors only ever applies to Docker Hub, whatever else the node mirrors.
  const unique = [...new Set(registries.length > 0 ? registries : runtime === 'docker' ? [DOCKER_HUB_HOST] : upstreamHosts)];
  return {
    ok: true,
    options: {
      runtime,
      write: parsed.switches.has('--write'),
      mirrorUrl,
      registries: unique,
      upstreamHosts,
      configDir: configDir ?? DEFAULT_CONFIG_DIRS[runtime],
      settingsArgv: parsed.settingsArgv,
    },
  };
}

/** `http://127.0.0.1:5000` (no trailing slash), as runtimes want it. */
export function mirrorOrigin(url: URL): string {
  return url.origin;
}
