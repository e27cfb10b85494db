import { maskCredentials, parseCredentialsJson, parseCredentialsValue } from './parse-credentials.js';
import { combineUpstreams, formatUpstreams, parseUpstreamEntry, upstreamMapping } from './parse-upstreams.js';
import { fail, isPlainObject, ok, describeValue } from './parsed.js';
import { listSetting, valueSetting } from './setting-spec.js';
import type { SettingGroup } from './settings-schema.js';
import { timeoutSetting } from './timeout-setting.js';
import { nullIsUnset } from './yaml-null.js';

// The settings of the upstream registries (part of SETTINGS, settings.ts).

/** Which registries, the logins to them, and how long they are waited for. */
export const UPSTREAM_SETTINGS: SettingGroup<'upstreams' | 'credentials' | 'upstreamTimeout' | 'tagTimeout'> = {
  upstreams: listSetting({
    flag: '--upstream',
    env: 'EDGEPIER_UPSTREAM',
    yamlKey: 'upstreams',
    valueName: 'URL|HOST=URL',
    description:
      'Upstream registry, repeatable. A bare URL is the default upstream (for names without a registry host); ' +
      'HOST=URL serves names under that registry host (ghcr.io=https://ghcr.io). YAML: strings or {host, url}.',
    defaultText: 'https://registry-1.docker.io (as docker.io)',
    parseItem: parseUpstreamEntry,
    fromYamlItem(value) {
      if (!isPlainObject(value)) return fail(`expected a URL, HOST=URL or {host, url}, got ${describeValue(value)}`);
      const unknown = Object.keys(value).filter((key) => key !== 'host' && key !== 'url');
      if (unknown.length > 0) return fail(`unknown field(s) ${unknown.join(', ')} in an upstream (expected host and url)`);
      const { host, url } = value;
      if (typeof url !== 'string') return fail(`upstream url must be a string, got ${describeValue(url)}`);
      if (host === undefined) return parseUpstreamEntry(url);
      if (typeof host !== 'string') return fail(`upstream host must be a string, got ${describeValue(host)}`);
      return upstreamMapping(host, url);
    },
    combine: combineUpstreams,
    display: formatUpstreams,
  }),
  credentials: valueSetting({
    flag: null,
    env: 'EDGEPIER_CREDENTIALS',
    yamlKey: 'credentials',
    valueName: 'JSON',
    secret: true,
    description:
      'Upstream logins by registry host: {"ghcr.io": {"username": "...", "password": "..."}} (JSON in the env var). ' +
      'No flag: argv is visible in ps.',
    defaultText: 'none',
    defaultValue: () => ok({}),
    parse: parseCredentialsJson,
    fromYamlValue: parseCredentialsValue,
    display: maskCredentials,
  }),
  upstreamTimeout: timeoutSetting(
    '--upstream-timeout',
    'EDGEPIER_UPSTREAM_TIMEOUT',
    'upstreamTimeout',
    '30s',
    'Connect and idle timeout for upstream calls (20ms, 3s, 5m, 1h).',
  ),
  tagTimeout: timeoutSetting(
    '--tag-timeout',
    'EDGEPIER_TAG_TIMEOUT',
    'tagTimeout',
    '3s',
    'How long a tag lookup waits for upstream before serving the last known tag → digest mapping.',
  ),
};

/** Which CAs upstream TLS is verified against (the mirror's and transparent mode's connections alike). */
export const UPSTREAM_TRUST_SETTINGS: SettingGroup<'upstreamCaFile'> = {
  upstreamCaFile: valueSetting<string | null>({
    flag: '--upstream-ca-file',
    env: 'EDGEPIER_UPSTREAM_CA_FILE',
    yamlKey: 'upstreamCaFile',
    valueName: 'FILE',
    description: 'PEM bundle of extra CAs trusted for upstream TLS, on top of the system trust store.',
    defaultText: 'none',
    defaultValue: () => ok(null),
    parse: (text) => (text.trim() === '' ? fail('is empty: give a PEM file') : ok(text.trim())),
    fromYamlValue: nullIsUnset,
    display: (value) => value,
  }),
};
