import { canonicalRegistryHost, DOCKER_HUB_HOST, parseRegistryHost } from '../../config/registry-host.js';

export const RUNTIMES = ['containerd', 'docker', 'podman'] as const;
export type Runtime = (typeof RUNTIMES)[number];

/** Where each runtime reads the file(s) we write. `--config-dir` replaces it. */
export const DEFAULT_CONFIG_DIRS: Readonly<Record<Runtime, string>> = {
  containerd: '/etc/containerd/certs.d',
  docker: '/etc/docker',
  podman: '/etc/containers/registries.conf.d',
};

export const DEFAULT_MIRROR_URL = 'http://127.0.0.1:5000';

export interface SetupOptions {
  readonly runtime: Runtime;
  readonly write: boolean;
  /** `http://127.0.0.1:5000`: scheme, host and port, no trailing slash. */
  readonly mirrorUrl: URL;
  /** Canonical registry hosts (`docker.io`, `ghcr.io`), deduplicated, in the order given. */
  readonly registries: readonly string[];
  readonly configDir: string;
}

export const SETUP_USAGE = `usage: edgepier setup containerd|docker|podman [--write] [--mirror-url URL] [--registry HOST ...] [--config-dir DIR]

Prints the container runtime's mirror configuration pointing at this node; with --write,
writes it (an existing file is first copied to FILE.bak-<timestamp>).
  --mirror-url URL   this node as the runtime reaches it (default ${DEFAULT_MIRROR_URL})
  --registry HOST    a registry to mirror, repeatable (default docker.io); the node needs an
                     upstream for each (--upstream HOST=URL), docker.io is its default
  --config-dir DIR   where the runtime reads the file (default: containerd ${DEFAULT_CONFIG_DIRS.containerd},
                     docker ${DEFAULT_CONFIG_DIRS.docker}, podman ${DEFAULT_CONFIG_DIRS.podman})
  --write            write the files instead of printing them`;

export type ParsedSetup = { readonly ok: true; readonly options: SetupOptions } | { readonly ok: false; readonly errors: string[] } | { readonly ok: 'help' };

/** `http(s)://host:port` only: runtimes append `/v2/...` (Podman: `/<registry>`) themselves. */
export function parseMirrorUrl(text: string): URL | string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return `--mirror-url ${JSON.stringify(text)} is not a URL (example: ${DEFAULT_MIRROR_URL})`;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return `--mirror-url must be http:// or https://, got ${url.protocol}`;
  if (url.pathname !== '/' || url.search !== '' || url.hash !== '' || url.username !== '' || url.password !== '') {
    return `--mirror-url takes a scheme, host and port only (example: ${DEFAULT_MIRROR_URL})`;
  }
  return url;
}

/** Every problem at once, like the config loader. */
export function parseSetupArgs(args: readonly string[]): ParsedSetup {
  const errors: string[] = [];
  const [runtimeText, ...rest] = args;
  if (runtimeText === undefined || runtimeText === '--help' || runtimeText === '-h') return runtimeText === undefined ? { ok: false, errors: ['name a runtime: containerd, docker or podman'] } : { ok: 'help' };
  const runtime = (RUNTIMES as readonly string[]).includes(runtimeText) ? (runtimeText as Runtime) : undefined;
  if (!runtime) errors.push(`unknown runtime '${runtimeText}' (expected ${RUNTIMES.join(', ')})`);
  let write = false;
  let mirrorText = DEFAULT_MIRROR_URL;
  let configDir: string | undefined;
  const registries: string[] = [];
  for (let i = 0; i < rest.length; i += 1) {
    const arg = rest[i] ?? '';
    const [flag, inline] = arg.startsWith('--') && arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const value = (): string | undefined => {
      if (inline !== undefined) return inline;
      const next = rest[i + 1];
      if (next === undefined || next.startsWith('--')) {
        errors.push(`${flag} needs a value`);
        return undefined;
      }
      i += 1;
      return next;
    };
    if (flag === '--help' || flag === '-h') return { ok: 'help' };
    if (flag === '--write' && inline === undefined) write = true;
    else if (flag === '--mirror-url') mirrorText = value() ?? mirrorText;
    else if (flag === '--config-dir') configDir = value() ?? configDir;
    else if (flag === '--registry') {
      const text = value();
      if (text === undefined) continue;
      for (const item of text.split(',').filter((part) => part.trim() !== '')) {
        const host = parseRegistryHost(item);
        if (host.ok) registries.push(canonicalRegistryHost(host.value));
        else errors.push(`--registry: ${host.errors.join('; ')}`);
      }
    } else errors.push(`unexpected argument '${arg}'`);
  }
  const mirrorUrl = parseMirrorUrl(mirrorText);
  if (typeof mirrorUrl === 'string') errors.push(mirrorUrl);
  if (configDir !== undefined && configDir.trim() === '') errors.push('--config-dir is empty');
  if (errors.length > 0 || !runtime || typeof mirrorUrl === 'string') return { ok: false, errors };
  const unique = [...new Set(registries.length > 0 ? registries : [DOCKER_HUB_HOST])];
  return { ok: true, options: { runtime, write, mirrorUrl, registries: unique, configDir: configDir ?? DEFAULT_CONFIG_DIRS[runtime] } };
}

/** `http://127.0.0.1:5000` (no trailing slash), as runtimes want it. */
export function mirrorOrigin(url: URL): string {
  return url.origin;
}
