import { fail, ok, quote, type Parsed } from './parsed.js';
import { DOCKER_HUB_HOST, DOCKER_HUB_URL, canonicalRegistryHost, parseRegistryHost } from './registry-host.js';

export interface Upstream {
  /** The registry host that image names use (`docker.io`, `ghcr.io`). */
  readonly host: string;
  /** Origin of the registry API, no path: `https://registry-1.docker.io`. */
  readonly url: string;
}

export interface Upstreams {
  /** Serves requests that name no registry host. Also listed in `byHost`. */
  readonly default: Upstream;
  /** Registry host → origin, for namespaced requests (`/v2/ghcr.io/org/app/...`). */
  readonly byHost: Readonly<Record<string, string>>;
}

/** One `--upstream` value: a bare URL (`host` null: the default) or `HOST=URL`. */
export interface UpstreamEntry {
  readonly host: string | null;
  readonly url: string;
}

/** An http(s) origin without credentials, path, query or fragment → its normalised origin. */
export function parseUpstreamUrl(text: string): Parsed<string> {
  let url: URL;
  try {
    url = new URL(text.trim());
  } catch {
    return fail(`${quote(text)} is not a URL (example: https://ghcr.io)`);
  }
  if (url.username !== '' || url.password !== '') {
    // Never echo the text: it holds a password.
    return fail(`upstream URL for ${url.host} carries credentials: put them under "credentials" instead`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return fail(`${quote(text)} must start with https:// or http://`);
  if (url.pathname !== '/' || url.search !== '' || url.hash !== '') {
    return fail(`${quote(text)} must be a bare origin, without path, query or fragment (example: https://ghcr.io)`);
  }
  return ok(url.origin);
}

/** `https://mirror.corp:5000` or `ghcr.io=https://ghcr.io`. */
export function parseUpstreamEntry(text: string): Parsed<UpstreamEntry> {
  const trimmed = text.trim();
  const equals = trimmed.indexOf('=');
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(trimmed) || equals < 0) {
    const url = parseUpstreamUrl(trimmed);
    return url.ok ? ok({ host: null, url: url.value }) : url;
  }
  return upstreamMapping(trimmed.slice(0, equals), trimmed.slice(equals + 1));
}

export function upstreamMapping(hostText: string, urlText: string): Parsed<UpstreamEntry> {
  const host = parseRegistryHost(hostText);
  const url = parseUpstreamUrl(urlText);
  const errors = [...(host.ok ? [] : host.errors), ...(url.ok ? [] : url.errors)];
  if (!host.ok || !url.ok) return fail(...errors);
  return ok({ host: host.value, url: url.value });
}

/** The registry host that a bare URL stands for: its own host, with Docker Hub's API hosts as `docker.io`. */
export function hostOfUrl(url: string): string {
  return canonicalRegistryHost(new URL(url).host);
}

/**
 * Folds entries into the default plus a host map. Without a bare URL the default is the
 * `docker.io` mapping if one is given, else Docker Hub itself.
 */
export function combineUpstreams(entries: readonly UpstreamEntry[]): Parsed<Upstreams> {
  const errors: string[] = [];
  const bare = entries.filter((entry) => entry.host === null);
  if (bare.length > 1) {
    errors.push(`only one bare URL (the default upstream) may be given, got ${bare.map((entry) => entry.url).join(', ')}`);
  }
  const byHost = new Map<string, string>();
  for (const entry of entries) {
    const host = entry.host ?? hostOfUrl(entry.url);
    const known = byHost.get(host);
    if (known !== undefined && known !== entry.url) {
      errors.push(`registry host ${host} is mapped twice: to ${known} and to ${entry.url}`);
    }
    byHost.set(host, entry.url);
  }
  if (errors.length > 0) return fail(...errors);
  const first = bare[0];
  const defaultUpstream: Upstream =
    first !== undefined
      ? { host: hostOfUrl(first.url), url: first.url }
      : { host: DOCKER_HUB_HOST, url: byHost.get(DOCKER_HUB_HOST) ?? DOCKER_HUB_URL };
  byHost.set(defaultUpstream.host, defaultUpstream.url);
  return ok({ default: defaultUpstream, byHost: Object.fromEntries(byHost) });
}

/** The YAML list that reads back as the same upstreams: the default first. */
export function formatUpstreams(upstreams: Upstreams): Array<string | { host: string; url: string }> {
  const { default: defaultUpstream, byHost } = upstreams;
  const first =
    hostOfUrl(defaultUpstream.url) === defaultUpstream.host
      ? defaultUpstream.url
      : { host: defaultUpstream.host, url: defaultUpstream.url };
  const others = Object.entries(byHost)
    .filter(([host]) => host !== defaultUpstream.host)
    .map(([host, url]) => ({ host, url }));
  return [first, ...others];
}
