import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { EdgePierConfig } from '../config/edgepier-config.js';
import { loadConfig, type ConfigProblem, type LoadResult } from '../config/load-config.js';

const HOME_ONLY = { HOME: '/home/u' };

function files(contents: Record<string, string>): (path: string) => string {
  return (path) => {
    const text = contents[path];
    if (text === undefined) throw Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' });
    return text;
  };
}

function loaded(result: LoadResult): { config: EdgePierConfig; sources: Record<string, string> } {
  if (!result.ok) assert.fail(`expected a config, got problems:\n${result.problems.map((p) => `${p.setting}: ${p.message}`).join('\n')}`);
  return result;
}

function problemsOf(result: LoadResult): ConfigProblem[] {
  if (result.ok) assert.fail('expected problems, got a config');
  return result.problems;
}

void describe('loadConfig defaults', () => {
  void it('fills every setting from its default', () => {
    const { config, sources } = loaded(loadConfig({ argv: [], env: HOME_ONLY }));
    assert.deepEqual(config, {
      configFile: null,
      listen: { host: '127.0.0.1', port: 5000 },
      clientAllow: [],
      peerListen: { host: '0.0.0.0', port: 5001 },
      siteKeyFile: null,
      cacheDir: '/home/u/.cache/edgepier',
      cacheMaxSize: { kind: 'unlimited' },
      cacheLowWater: 90,
      upstreams: { default: { host: 'docker.io', url: 'https://registry-1.docker.io' }, byHost: { 'docker.io': 'https://registry-1.docker.io' } },
      credentials: {},
      upstreamTimeout: 30_000,
      tagTimeout: 3_000,
      sendTimeout: 30_000,
      idleTimeout: 65_000,
      maxConnections: 1024,
      mdns: true,
      mdnsInterface: '',
      peers: [],
      peerMode: 'proxy',
      peerTimeout: 2_000,
      peerHedgeDelay: 1_000,
      downloadStallTimeout: 10_000,
      downloadMinRate: 16 * 1024,
      downloadRateWindow: 20_000,
      spoolMaxSize: 8 * 1024 ** 3,
      swarmFanOut: 1,
      proxyListen: null,
      caDir: null,
      upstreamCaFile: null,
      nodeId: '',
      logLevel: 'info',
    });
    assert.ok(Object.values(sources).every((source) => source === 'default'));
  });

  void it('takes the cache dir default from XDG_CACHE_HOME in the env passed in', () => {
    const { config } = loaded(loadConfig({ argv: [], env: { HOME: '/home/u', XDG_CACHE_HOME: '/xdg' } }));
    assert.equal(config.cacheDir, '/xdg/edgepier');
  });
});

void describe('loadConfig precedence: flag > env > file > default', () => {
  const readFile = files({ '/etc/ep.yaml': 'listen: 127.0.0.3:7000\ntagTimeout: 9s\npeerMode: redirect\nlogLevel: warn\n' });

  void it('lets each layer override the ones below it', () => {
    const { config, sources } = loaded(
      loadConfig({
        argv: ['--listen', '127.0.0.1:7000', '--config', '/etc/ep.yaml'],
        env: { ...HOME_ONLY, EDGEPIER_LISTEN: '127.0.0.2:7000', EDGEPIER_TAG_TIMEOUT: '8s', EDGEPIER_PEER_MODE: 'proxy' },
        readFile,
      }),
    );
    assert.deepEqual(config.listen, { host: '127.0.0.1', port: 7000 });
    assert.equal(config.tagTimeout, 8_000);
    assert.equal(config.peerMode, 'proxy');
    assert.equal(config.logLevel, 'warn');
    assert.equal(config.upstreamTimeout, 30_000);
    assert.equal(config.configFile, '/etc/ep.yaml');
    assert.deepEqual(
      { listen: sources.listen, tagTimeout: sources.tagTimeout, peerMode: sources.peerMode, logLevel: sources.logLevel, upstreamTimeout: sources.upstreamTimeout, configFile: sources.configFile },
      { listen: 'flag', tagTimeout: 'env', peerMode: 'env', logLevel: 'file', upstreamTimeout: 'default', configFile: 'flag' },
    );
  });

  void it('finds the file through EDGEPIER_CONFIG', () => {
    const { config, sources } = loaded(loadConfig({ argv: [], env: { ...HOME_ONLY, EDGEPIER_CONFIG: '/etc/ep.yaml' }, readFile }));
    assert.equal(config.peerMode, 'redirect');
    assert.equal(sources.configFile, 'env');
  });

  void it('validates only the winning value, so a flag can override a broken file value', () => {
    const broken = files({ '/ep.yaml': 'tagTimeout: 30\n' });
    assert.equal(problemsOf(loadConfig({ argv: ['--config', '/ep.yaml'], env: HOME_ONLY, readFile: broken }))[0]?.setting, '--tag-timeout');
    const { config } = loaded(loadConfig({ argv: ['--config', '/ep.yaml', '--tag-timeout', '1s'], env: HOME_ONLY, readFile: broken }));
    assert.equal(config.tagTimeout, 1_000);
  });

  void it('treats empty env vars as unset', () => {
    const { sources } = loaded(loadConfig({ argv: [], env: { ...HOME_ONLY, EDGEPIER_LISTEN: '', EDGEPIER_PEERS: ' ' } }));
    assert.equal(sources.listen, 'default');
    assert.equal(sources.peers, 'default');
  });
});

void describe('loadConfig argv forms', () => {
  void it('accepts --flag value and --flag=value', () => {
    const { config } = loaded(loadConfig({ argv: ['--listen=[::]:5000', '--client-allow=198.18.0.0/24', '--cache-dir', '/var/cache/ep', '--cache-max-size=10GiB'], env: {} }));
    assert.deepEqual(config.listen, { host: '::', port: 5000 });
    assert.equal(config.cacheDir, '/var/cache/ep');
    assert.deepEqual(config.cacheMaxSize, { kind: 'bytes', bytes: 10 * 2 ** 30 });
  });

  void it('reads --no-mdns as a switch, EDGEPIER_NO_MDNS as a boolean and mdns: false from YAML', () => {
    assert.equal(loaded(loadConfig({ argv: ['--no-mdns'], env: HOME_ONLY })).config.mdns, false);
    assert.equal(loaded(loadConfig({ argv: ['--no-mdns=false'], env: { ...HOME_ONLY, EDGEPIER_NO_MDNS: '1' } })).config.mdns, true);
    assert.equal(loaded(loadConfig({ argv: [], env: { ...HOME_ONLY, EDGEPIER_NO_MDNS: 'true' } })).config.mdns, false);
    assert.equal(loaded(loadConfig({ argv: [], env: { ...HOME_ONLY, EDGEPIER_NO_MDNS: '0' } })).config.mdns, true);
    const readFile = files({ '/ep.yaml': 'mdns: false\n' });
    assert.equal(loaded(loadConfig({ argv: ['--config', '/ep.yaml'], env: HOME_ONLY, readFile })).config.mdns, false);
    // A switch never swallows the next token as its value.
    assert.equal(problemsOf(loadConfig({ argv: ['--no-mdns', 'false'], env: HOME_ONLY }))[0]?.setting, 'false');
  });

  void it('reports a missing value, a repeated single-value flag and stray arguments', () => {
    const problems = problemsOf(loadConfig({ argv: ['serve', '--log-level', 'info', '--log-level=debug', '--node-id', '--peer-mode'], env: HOME_ONLY }));
    assert.deepEqual(
      problems.map((problem) => [problem.setting, problem.message.split(':')[0]]),
      [
        ['serve', 'unexpected argument'],
        ['--log-level', 'given more than once'],
        ['--node-id', 'needs a value'],
        ['--peer-mode', 'needs a value'],
      ],
    );
  });
});

void describe('loadConfig repeatable upstreams and lists', () => {
  void it('collects repeated --upstream flags, comma lists included', () => {
    const { config } = loaded(
      loadConfig({
        argv: ['--upstream', 'https://mirror.corp', '--upstream', 'ghcr.io=https://ghcr.io,quay.io=https://quay.io'],
        env: { ...HOME_ONLY, EDGEPIER_UPSTREAM: 'https://ignored.example' },
      }),
    );
    assert.deepEqual(config.upstreams, {
      default: { host: 'mirror.corp', url: 'https://mirror.corp' },
      byHost: { 'mirror.corp': 'https://mirror.corp', 'ghcr.io': 'https://ghcr.io', 'quay.io': 'https://quay.io' },
    });
  });

  void it('reads EDGEPIER_UPSTREAM as a comma list', () => {
    const { config } = loaded(loadConfig({ argv: [], env: { ...HOME_ONLY, EDGEPIER_UPSTREAM: 'ghcr.io=https://ghcr.io, docker.io=https://hub.mirror.corp' } }));
    assert.deepEqual(config.upstreams.default, { host: 'docker.io', url: 'https://hub.mirror.corp' });
    assert.equal(config.upstreams.byHost['ghcr.io'], 'https://ghcr.io');
  });

  void it('reads YAML upstreams as strings and {host, url} objects', () => {
    const readFile = files({
      '/ep.yaml': ['upstreams:', '  - https://registry-1.docker.io', '  - host: ghcr.io', '    url: https://ghcr.io', '  - quay.io=https://quay.io'].join('\n'),
    });
    const { config } = loaded(loadConfig({ argv: ['--config', '/ep.yaml'], env: HOME_ONLY, readFile }));
    assert.deepEqual(config.upstreams.byHost, { 'docker.io': 'https://registry-1.docker.io', 'ghcr.io': 'https://ghcr.io', 'quay.io': 'https://quay.io' });
  });

  void it('reports each bad upstream, and two defaults', () => {
    const problems = problemsOf(loadConfig({ argv: ['--upstream', 'ftp://a.org', '--upstream', 'https://b.org/path'], env: HOME_ONLY }));
    assert.equal(problems.length, 2);
    assert.ok(problems.every((problem) => problem.setting === '--upstream'));
    const twoDefaults = problemsOf(loadConfig({ argv: ['--upstream', 'https://a.org', '--upstream', 'https://b.org'], env: HOME_ONLY }));
    assert.match(twoDefaults[0]?.message ?? '', /only one bare URL/);
  });

  void it('reads static peers from comma lists and repeats, dropping duplicates', () => {
    const { config } = loaded(loadConfig({ argv: ['--peers', '127.0.0.2:5000,127.0.0.3:5000', '--peers=127.0.0.2:5000'], env: HOME_ONLY }));
    assert.deepEqual(config.peers, [
      { host: '127.0.0.2', port: 5000 },
      { host: '127.0.0.3', port: 5000 },
    ]);
  });
});

void describe('loadConfig reports every problem at once', () => {
  void it('bad listen + bad duration + unknown flag → three problems naming their settings', () => {
    const problems = problemsOf(loadConfig({ argv: ['--listen', 'nowhere', '--tag-timeout', '3', '--bogus'], env: HOME_ONLY }));
    assert.deepEqual(problems.map((problem) => problem.setting).sort(), ['--bogus', '--listen', '--tag-timeout']);
    assert.equal(problems.length, 3);
  });

  void it('names the source of a bad value and suggests close names', () => {
    const readFile = files({ '/ep.yaml': 'peerTimeout: soon\n' });
    const problems = problemsOf(
      loadConfig({ argv: ['--config', '/ep.yaml', '--cache-dri', '/x'], env: { ...HOME_ONLY, EDGEPIER_PEER_MODE: 'redirct' }, readFile }),
    );
    const bySetting = new Map(problems.map((problem) => [problem.setting, problem.message]));
    assert.equal(problems.length, 3, JSON.stringify(problems));
    assert.match(bySetting.get('--cache-dri') ?? '', /unknown flag \(did you mean --cache-dir\?\)/);
    assert.match(bySetting.get('--peer-mode') ?? '', /did you mean redirect\?.*\(from EDGEPIER_PEER_MODE\)/);
    assert.match(bySetting.get('--peer-timeout') ?? '', /"soon" is not a duration.*\(from \/ep\.yaml, key peerTimeout\)/);
  });

  void it('refuses unknown YAML keys, with a hint for kebab-case spellings', () => {
    const readFile = files({ '/ep.yaml': 'cache-dir: /x\nlisten: 0.0.0.0:5000\nfrobnicate: 1\n' });
    const problems = problemsOf(loadConfig({ argv: ['--config', '/ep.yaml'], env: HOME_ONLY, readFile }));
    assert.deepEqual(
      problems.map((problem) => [problem.setting, problem.message]),
      [
        ['--config', '/ep.yaml: unknown key "cache-dir" (did you mean cacheDir?)'],
        ['--config', '/ep.yaml: unknown key "frobnicate"'],
      ],
    );
  });

  void it('reports unreadable files, YAML syntax errors with positions, and non-mapping documents', () => {
    assert.match(problemsOf(loadConfig({ argv: ['--config', '/missing.yaml'], env: HOME_ONLY, readFile: files({}) }))[0]?.message ?? '', /cannot read the file \(ENOENT\)/);
    const syntax = problemsOf(loadConfig({ argv: ['--config', '/ep.yaml'], env: HOME_ONLY, readFile: files({ '/ep.yaml': 'listen: a\nlisten: b\n' }) }));
    assert.match(syntax[0]?.message ?? '', /^\/ep\.yaml:2:1: Map keys must be unique/);
    const list = problemsOf(loadConfig({ argv: ['--config', '/ep.yaml'], env: HOME_ONLY, readFile: files({ '/ep.yaml': '- listen\n' }) }));
    assert.match(list[0]?.message ?? '', /expected a mapping/);
  });

  void it('hints at quoting when an unquoted IPv6 listen address in YAML is read as a list', () => {
    const readFile = files({ '/ep.yaml': 'listen: [::1]\n' });
    const problems = problemsOf(loadConfig({ argv: ['--config', '/ep.yaml'], env: HOME_ONLY, readFile }));
    assert.deepEqual(problems.map((problem) => problem.setting), ['--listen']);
    assert.match(problems[0]?.message ?? '', /expected a string, got a list \(quote IPv6 addresses in YAML: "\[::\]:5000"\)/);
  });

  void it('accepts an empty config file', () => {
    loaded(loadConfig({ argv: ['--config', '/ep.yaml'], env: HOME_ONLY, readFile: files({ '/ep.yaml': '# nothing yet\n' }) }));
  });
});

void describe('loadConfig credentials', () => {
  const secret = 'pa55-w0rd-xyz';

  void it('reads credentials from EDGEPIER_CREDENTIALS JSON and from the file', () => {
    const env = { ...HOME_ONLY, EDGEPIER_CREDENTIALS: JSON.stringify({ 'ghcr.io': { username: 'bot', password: secret } }) };
    assert.deepEqual(loaded(loadConfig({ argv: [], env })).config.credentials, { 'ghcr.io': { username: 'bot', password: secret } });
    const readFile = files({ '/ep.yaml': `credentials:\n  docker.io:\n    username: bot\n    password: ${secret}\n` });
    assert.deepEqual(loaded(loadConfig({ argv: ['--config', '/ep.yaml'], env: HOME_ONLY, readFile })).config.credentials, {
      'docker.io': { username: 'bot', password: secret },
    });
  });

  void it('has no flag, and never repeats a secret in a problem', () => {
    const problems = problemsOf(
      loadConfig({ argv: [`--credentials=${secret}`], env: { ...HOME_ONLY, EDGEPIER_CREDENTIALS: `{"ghcr.io": {"password": ${secret}}}` } }),
    );
    assert.deepEqual(problems.map((problem) => problem.setting), ['--credentials', 'credentials']);
    for (const problem of problems) assert.ok(!problem.message.includes(secret), problem.message);
  });

  void it('keeps YAML syntax errors free of source excerpts', () => {
    const readFile = files({ '/ep.yaml': `credentials:\n  ghcr.io: {username: bot, password: "${secret}\n` });
    const problems = problemsOf(loadConfig({ argv: ['--config', '/ep.yaml'], env: HOME_ONLY, readFile }));
    assert.ok(problems.length > 0);
    for (const problem of problems) assert.ok(!problem.message.includes(secret), problem.message);
  });
});

describe('loadConfig --mdns-interface', () => {
  it('accepts an IPv4 address and refuses anything else, naming the setting', () => {
    const good = loadConfig({ argv: ['--mdns-interface', '198.18.0.2'], env: HOME_ONLY });
    assert.ok(good.ok && good.config.mdnsInterface === '198.18.0.2');
    const problems = problemsOf(loadConfig({ argv: ['--mdns-interface', 'eth0'], env: HOME_ONLY }));
    assert.deepEqual(problems.map((problem) => problem.setting), ['--mdns-interface']);
  });
});

void describe('loadConfig transparent mode and upstream trust', () => {
  void it('leaves --proxy-listen off by default, and reads "" and off as off', () => {
    const { config, sources } = loaded(loadConfig({ argv: [], env: HOME_ONLY }));
    assert.equal(config.proxyListen, null);
    assert.equal(sources.proxyListen, 'default');
    assert.equal(loaded(loadConfig({ argv: ['--proxy-listen', ''], env: HOME_ONLY })).config.proxyListen, null);
    assert.equal(loaded(loadConfig({ argv: ['--proxy-listen=off'], env: HOME_ONLY })).config.proxyListen, null);
    // An explicit off beats an address from a lower layer.
    const readFile = files({ '/ep.yaml': 'proxyListen: 127.0.0.1:3128\n' });
    const overridden = loaded(loadConfig({ argv: ['--config', '/ep.yaml', '--proxy-listen', 'off'], env: HOME_ONLY, readFile }));
    assert.equal(overridden.config.proxyListen, null);
    assert.equal(overridden.sources.proxyListen, 'flag');
  });

  void it('reads --proxy-listen as HOST:PORT, bracketed IPv6 included, from the flag, EDGEPIER_PROXY_LISTEN and YAML', () => {
    assert.deepEqual(loaded(loadConfig({ argv: ['--proxy-listen', '127.0.0.1:3128'], env: HOME_ONLY })).config.proxyListen, { host: '127.0.0.1', port: 3128 });
    assert.deepEqual(loaded(loadConfig({ argv: ['--proxy-listen=[::1]:3128'], env: HOME_ONLY })).config.proxyListen, { host: '::1', port: 3128 });

    const fromEnv = loaded(loadConfig({ argv: [], env: { ...HOME_ONLY, EDGEPIER_PROXY_LISTEN: '[::1]:3128' } }));
    assert.deepEqual(fromEnv.config.proxyListen, { host: '::1', port: 3128 });
    assert.equal(fromEnv.sources.proxyListen, 'env');
    assert.equal(loaded(loadConfig({ argv: [], env: { ...HOME_ONLY, EDGEPIER_PROXY_LISTEN: 'off' } })).config.proxyListen, null);

    const readFile = files({ '/v4.yaml': 'proxyListen: 127.0.0.1:3128\n', '/v6.yaml': 'proxyListen: "[::1]:3128"\n', '/off.yaml': 'proxyListen: off\n' });
    const load = (path: string): EdgePierConfig => loaded(loadConfig({ argv: ['--config', path], env: HOME_ONLY, readFile })).config;
    assert.deepEqual(load('/v4.yaml').proxyListen, { host: '127.0.0.1', port: 3128 });
    assert.deepEqual(load('/v6.yaml').proxyListen, { host: '::1', port: 3128 });
    // YAML 1.2: an unquoted off is the string "off", not false.
    assert.equal(load('/off.yaml').proxyListen, null);
  });

  void it('refuses a bad --proxy-listen from each source, naming the value and where it came from', () => {
    const cases: { argv: string[]; env?: Record<string, string>; yaml?: string; message: RegExp }[] = [
      { argv: ['--proxy-listen', '3128'], message: /^"3128" is not HOST:PORT/ },
      { argv: ['--proxy-listen', 'on'], message: /^"on" is not HOST:PORT/ },
      { argv: ['--proxy-listen', '::1:3128'], message: /put an IPv6 address in brackets/ },
      { argv: ['--proxy-listen', '127.0.0.1:70000'], message: /port must be 0-65535/ },
      { argv: [], env: { EDGEPIER_PROXY_LISTEN: 'localhost' }, message: /^"localhost" is not HOST:PORT.*\(from EDGEPIER_PROXY_LISTEN\)$/ },
      { argv: [], yaml: 'proxyListen: 127.0.0.1:port\n', message: /"port" is not a port number.*\(from \/ep\.yaml, key proxyListen\)$/ },
      { argv: [], yaml: 'proxyListen: [::1]\n', message: /expected a string, got a list \(quote IPv6 addresses in YAML: "\[::1\]:3128"\)/ },
      { argv: [], yaml: 'proxyListen: false\n', message: /expected a string, got the boolean "false"/ },
    ];
    for (const { argv, env, yaml, message } of cases) {
      const readFile = files({ '/ep.yaml': yaml ?? '' });
      const problems = problemsOf(loadConfig({ argv: yaml === undefined ? argv : ['--config', '/ep.yaml', ...argv], env: { ...HOME_ONLY, ...env }, readFile }));
      assert.deepEqual(problems.map((problem) => problem.setting), ['--proxy-listen'], JSON.stringify(problems));
      assert.match(problems[0]?.message ?? '', message);
    }
  });

  void it('defaults --ca-dir to null (meaning <cache dir>/ca) and expands ~ from the flag, EDGEPIER_CA_DIR and YAML', () => {
    assert.equal(loaded(loadConfig({ argv: [], env: HOME_ONLY })).config.caDir, null);
    assert.equal(loaded(loadConfig({ argv: ['--ca-dir', '~/edgepier-ca'], env: HOME_ONLY })).config.caDir, '/home/u/edgepier-ca');
    assert.equal(loaded(loadConfig({ argv: ['--ca-dir=/etc/edgepier/ca'], env: HOME_ONLY })).config.caDir, '/etc/edgepier/ca');
    const fromEnv = loaded(loadConfig({ argv: [], env: { ...HOME_ONLY, EDGEPIER_CA_DIR: '~/ca' } }));
    assert.equal(fromEnv.config.caDir, '/home/u/ca');
    assert.equal(fromEnv.sources.caDir, 'env');
    const readFile = files({ '/ep.yaml': 'caDir: ~/from-yaml\n', '/null.yaml': 'caDir: null\n' });
    assert.equal(loaded(loadConfig({ argv: ['--config', '/ep.yaml'], env: HOME_ONLY, readFile })).config.caDir, '/home/u/from-yaml');
    // What `config print` writes for the default reads back as the default.
    assert.equal(loaded(loadConfig({ argv: ['--config', '/null.yaml'], env: HOME_ONLY, readFile })).config.caDir, null);
  });

  void it('refuses an empty --ca-dir and a ~ without HOME', () => {
    assert.match(problemsOf(loadConfig({ argv: ['--ca-dir', ' '], env: HOME_ONLY }))[0]?.message ?? '', /^is empty: give a directory$/);
    const noHome = problemsOf(loadConfig({ argv: ['--cache-dir', '/var/cache/ep'], env: { EDGEPIER_CA_DIR: '~/ca' } }));
    assert.deepEqual(noHome.map((problem) => problem.setting), ['--ca-dir']);
    assert.match(noHome[0]?.message ?? '', /starts with ~ but HOME is not set \(from EDGEPIER_CA_DIR\)/);
    const readFile = files({ '/ep.yaml': 'caDir: [a, b]\n' });
    assert.match(problemsOf(loadConfig({ argv: ['--config', '/ep.yaml'], env: HOME_ONLY, readFile }))[0]?.message ?? '', /expected a string, got a list/);
  });

  void it('reads --upstream-ca-file from the flag, EDGEPIER_UPSTREAM_CA_FILE and YAML; none by default', () => {
    assert.equal(loaded(loadConfig({ argv: [], env: HOME_ONLY })).config.upstreamCaFile, null);
    assert.equal(loaded(loadConfig({ argv: ['--upstream-ca-file', '/etc/ssl/site-ca.pem'], env: HOME_ONLY })).config.upstreamCaFile, '/etc/ssl/site-ca.pem');
    const fromEnv = loaded(loadConfig({ argv: [], env: { ...HOME_ONLY, EDGEPIER_UPSTREAM_CA_FILE: ' /run/secrets/ca.pem\n' } }));
    assert.equal(fromEnv.config.upstreamCaFile, '/run/secrets/ca.pem');
    assert.equal(fromEnv.sources.upstreamCaFile, 'env');
    const readFile = files({ '/ep.yaml': 'upstreamCaFile: /etc/ssl/site-ca.pem\n', '/null.yaml': 'upstreamCaFile: null\n' });
    assert.equal(loaded(loadConfig({ argv: ['--config', '/ep.yaml'], env: HOME_ONLY, readFile })).config.upstreamCaFile, '/etc/ssl/site-ca.pem');
    assert.equal(loaded(loadConfig({ argv: ['--config', '/null.yaml'], env: HOME_ONLY, readFile })).config.upstreamCaFile, null);
  });

  void it('refuses an empty --upstream-ca-file from the flag and YAML (an empty env var counts as unset)', () => {
    const fromFlag = problemsOf(loadConfig({ argv: ['--upstream-ca-file='], env: HOME_ONLY }));
    assert.deepEqual(fromFlag.map((problem) => [problem.setting, problem.message]), [['--upstream-ca-file', 'is empty: give a PEM file']]);
    const readFile = files({ '/ep.yaml': "upstreamCaFile: ''\n" });
    const fromYaml = problemsOf(loadConfig({ argv: ['--config', '/ep.yaml'], env: HOME_ONLY, readFile }));
    assert.deepEqual(fromYaml.map((problem) => [problem.setting, problem.message]), [
      ['--upstream-ca-file', 'is empty: give a PEM file (from /ep.yaml, key upstreamCaFile)'],
    ]);
    assert.equal(loaded(loadConfig({ argv: [], env: { ...HOME_ONLY, EDGEPIER_UPSTREAM_CA_FILE: '' } })).sources.upstreamCaFile, 'default');
  });
});

void describe('loadConfig site boundary', () => {
  void it('serves the client API on loopback and the peer API on every interface by default', () => {
    const { config } = loaded(loadConfig({ argv: [], env: HOME_ONLY }));
    assert.deepEqual([config.listen, config.peerListen, config.clientAllow, config.siteKeyFile], [
      { host: '127.0.0.1', port: 5000 },
      { host: '0.0.0.0', port: 5001 },
      [],
      null,
    ]);
  });

  void it('refuses a non-loopback --listen or --proxy-listen without --client-allow, naming both flags', () => {
    const problems = problemsOf(loadConfig({ argv: ['--listen', '0.0.0.0:5000', '--proxy-listen', '[::]:3128'], env: HOME_ONLY }));
    assert.deepEqual(problems.map((problem) => problem.setting), ['--listen', '--proxy-listen']);
    for (const problem of problems) assert.match(problem.message, /--client-allow/);
  });

  void it('reads --client-allow blocks and single addresses from the flag, env and YAML', () => {
    const fromFlag = loaded(loadConfig({ argv: ['--listen', '0.0.0.0:5000', '--client-allow', '198.18.0.0/24,198.19.0.7', '--client-allow', 'fd00::/8'], env: HOME_ONLY }));
    assert.deepEqual(fromFlag.config.clientAllow, [
      { network: '198.18.0.0', prefix: 24, family: 'ipv4' },
      { network: '198.19.0.7', prefix: 32, family: 'ipv4' },
      { network: 'fd00::', prefix: 8, family: 'ipv6' },
    ]);
    const fromEnv = loaded(loadConfig({ argv: [], env: { ...HOME_ONLY, EDGEPIER_CLIENT_ALLOW: '10.0.0.0/8' } }));
    assert.deepEqual(fromEnv.config.clientAllow, [{ network: '10.0.0.0', prefix: 8, family: 'ipv4' }]);
    const readFile = files({ '/ep.yaml': 'clientAllow: [192.0.2.0/24]\nsiteKeyFile: /etc/edgepier/site.key\npeerListen: 0.0.0.0:6001\n' });
    const fromFile = loaded(loadConfig({ argv: ['--config', '/ep.yaml'], env: HOME_ONLY, readFile }));
    assert.deepEqual(fromFile.config.clientAllow, [{ network: '192.0.2.0', prefix: 24, family: 'ipv4' }]);
    assert.equal(fromFile.config.siteKeyFile, '/etc/edgepier/site.key');
    assert.deepEqual(fromFile.config.peerListen, { host: '0.0.0.0', port: 6001 });
  });

  void it('refuses a bad CIDR and a peer listener on the client port', () => {
    const bad = problemsOf(loadConfig({ argv: ['--client-allow', '198.18.0.0/33,not-an-ip'], env: HOME_ONLY }));
    assert.deepEqual(bad.map((problem) => problem.setting), ['--client-allow', '--client-allow']);
    assert.match(bad[0]?.message ?? '', /prefix must be 0-32/);
    assert.match(bad[1]?.message ?? '', /is not an IP address or CIDR block/);
    const same = problemsOf(loadConfig({ argv: ['--listen', '127.0.0.1:5000', '--peer-listen', '127.0.0.1:0', '--peer-listen', '127.0.0.1:5000'], env: HOME_ONLY }));
    assert.deepEqual(same.map((problem) => problem.setting), ['--peer-listen']);
  });
});
