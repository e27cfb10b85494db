import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseBoolean } from '../config/parse-boolean.js';
import { choiceParser } from '../config/parse-choice.js';
import { parseCredentialsJson, parseCredentialsValue } from '../config/parse-credentials.js';
import { defaultCacheDirectory, parseDirectory } from '../config/parse-directory.js';
import { formatDuration, parseDuration } from '../config/parse-duration.js';
import { formatHostPort, parseHostPort } from '../config/parse-host-port.js';
import { parseNodeId } from '../config/parse-node-id.js';
import { parsePercent } from '../config/parse-percent.js';
import { formatFanOut, parseFanOut } from '../config/parse-fan-out.js';
import { formatByteSize, parseByteSize, parseCacheMaxSize } from '../config/parse-size.js';
import { combineUpstreams, parseUpstreamEntry, type UpstreamEntry } from '../config/parse-upstreams.js';
import type { Parsed } from '../config/parsed.js';

function value<T>(parsed: Parsed<T>): T {
  if (!parsed.ok) assert.fail(`expected success, got: ${parsed.errors.join('; ')}`);
  return parsed.value;
}

function errors<T>(parsed: Parsed<T>): string {
  if (parsed.ok) assert.fail(`expected failure, got ${JSON.stringify(parsed.value)}`);
  return parsed.errors.join('\n');
}

void describe('parseDuration', () => {
  void it('reads ms, s, m, h, compounds and decimals exactly', () => {
    assert.equal(value(parseDuration('20ms')), 20);
    assert.equal(value(parseDuration('3s')), 3_000);
    assert.equal(value(parseDuration('5m')), 300_000);
    assert.equal(value(parseDuration('1h')), 3_600_000);
    assert.equal(value(parseDuration('1m30s')), 90_000);
    assert.equal(value(parseDuration('1.1s')), 1_100);
    assert.equal(value(parseDuration(' 2s ')), 2_000);
  });

  void it('refuses bare numbers, garbage, sub-millisecond and out-of-range values', () => {
    assert.match(errors(parseDuration('30')), /no unit/);
    for (const bad of ['', 's', '3 s', '3sec', '-3s', '3d', '1.5', 'abc', '3s5']) {
      assert.match(errors(parseDuration(bad)), /not a duration|no unit/, bad);
    }
    assert.match(errors(parseDuration('0.5ms')), /whole number of milliseconds/);
    assert.match(errors(parseDuration('0s', { minMs: 1 })), /shorter than the minimum 1ms/);
    assert.match(errors(parseDuration('600h')), /longer than the maximum/);
  });

  void it('formats to the shortest exact spelling', () => {
    assert.equal(formatDuration(30_000), '30s');
    assert.equal(formatDuration(1_500), '1500ms');
    assert.equal(formatDuration(7_200_000), '2h');
    assert.equal(formatDuration(0), '0ms');
  });
});

void describe('parseByteSize and parseCacheMaxSize', () => {
  void it('reads plain bytes, SI and IEC units in any case', () => {
    assert.equal(value(parseByteSize('1024')), 1024);
    assert.equal(value(parseByteSize('500MB')), 500_000_000);
    assert.equal(value(parseByteSize('10GiB')), 10 * 2 ** 30);
    assert.equal(value(parseByteSize('10gib')), 10 * 2 ** 30);
    assert.equal(value(parseByteSize('1.5 GB')), 1_500_000_000);
    assert.equal(value(parseByteSize('0.1GB')), 100_000_000);
  });

  void it('refuses unknown units, fractions of a byte and garbage', () => {
    assert.match(errors(parseByteSize('10XB')), /unknown unit "XB"/);
    assert.match(errors(parseByteSize('10G')), /unknown unit/);
    // Found by test/property-config-parsers.test.ts: the unit table is an object literal.
    assert.match(errors(parseByteSize('1constructor')), /unknown unit "constructor"/);
    assert.match(errors(parseByteSize('1.5')), /whole number of bytes/);
    assert.match(errors(parseByteSize('-1GB')), /not a size/);
    assert.match(errors(parseByteSize('lots')), /not a size/);
    assert.match(errors(parseByteSize('99999PiB')), /too large/);
  });

  void it('reads a budget as bytes, a percentage of the disk, or 0 for unlimited', () => {
    assert.deepEqual(value(parseCacheMaxSize('10GiB')), { kind: 'bytes', bytes: 10 * 2 ** 30 });
    assert.deepEqual(value(parseCacheMaxSize('30%')), { kind: 'percent', percent: 30 });
    assert.deepEqual(value(parseCacheMaxSize('0')), { kind: 'unlimited' });
    assert.match(errors(parseCacheMaxSize('0%')), /above 0%/);
    assert.match(errors(parseCacheMaxSize('150%')), /at most 100%/);
  });

  void it('formats with the largest exact unit', () => {
    assert.equal(formatByteSize(10 * 2 ** 30), '10GiB');
    assert.equal(formatByteSize(500_000_000), '500MB');
    assert.equal(formatByteSize(1023), '1023');
  });
});

void describe('parsePercent', () => {
  void it('needs the % sign and a value in (0, 100]', () => {
    assert.equal(value(parsePercent('90%')), 90);
    assert.equal(value(parsePercent('12.5%')), 12.5);
    assert.equal(value(parsePercent('100%')), 100);
    assert.match(errors(parsePercent('90')), /not a percentage/);
    assert.match(errors(parsePercent('0.9')), /not a percentage/);
    assert.match(errors(parsePercent('0%')), /above 0%/);
    assert.match(errors(parsePercent('101%')), /at most 100%/);
  });
});

void describe('parseFanOut', () => {
  void it('takes a whole number 1-64 or unbounded, and prints what it read back', () => {
    assert.equal(value(parseFanOut('1')), 1);
    assert.equal(value(parseFanOut(' 3 ')), 3);
    assert.equal(value(parseFanOut('unbounded')), Infinity);
    assert.equal(formatFanOut(Infinity), 'unbounded');
    assert.equal(formatFanOut(2), '2');
    for (const bad of ['0', '65', '1.5', '-1', 'two', '']) assert.match(errors(parseFanOut(bad)), /fan-out|1-64/, bad);
  });
});

void describe('parseHostPort', () => {
  const listen = (text: string): Parsed<unknown> => parseHostPort(text, { allowPortZero: true });

  void it('reads IPv4, host names and bracketed IPv6', () => {
    assert.deepEqual(value(listen('0.0.0.0:5000')), { host: '0.0.0.0', port: 5000 });
    assert.deepEqual(value(listen('[::]:5000')), { host: '::', port: 5000 });
    assert.deepEqual(value(listen('[fe80::1]:80')), { host: 'fe80::1', port: 80 });
    assert.deepEqual(value(listen('Mirror.Local:5000')), { host: 'mirror.local', port: 5000 });
    assert.deepEqual(value(listen('127.0.0.1:0')), { host: '127.0.0.1', port: 0 });
  });

  void it('refuses missing parts, unbracketed IPv6, bad hosts and bad ports', () => {
    assert.match(errors(listen('5000')), /not HOST:PORT/);
    assert.match(errors(listen(':5000')), /has no host/);
    assert.match(errors(listen('::1:5000')), /brackets/);
    assert.match(errors(listen('[zz]:5000')), /not an IPv6 address/);
    assert.match(errors(listen('300.1.1.1:5000')), /not a host name or IP address/);
    assert.match(errors(listen('bad_host:5000')), /not a host name/);
    assert.match(errors(listen('host:')), /not a port number/);
    assert.match(errors(listen('host:65536')), /port must be 0-65535/);
    assert.match(errors(parseHostPort('peer:0', { allowPortZero: false })), /port must be 1-65535/);
  });

  void it('formats IPv6 back into brackets', () => {
    assert.equal(formatHostPort({ host: '::', port: 5000 }), '[::]:5000');
    assert.equal(formatHostPort({ host: '10.0.0.1', port: 5000 }), '10.0.0.1:5000');
  });
});

void describe('upstreams', () => {
  const entries = (...texts: string[]): UpstreamEntry[] => texts.map((text) => value(parseUpstreamEntry(text)));

  void it('reads a bare URL and HOST=URL, normalised to the origin', () => {
    assert.deepEqual(value(parseUpstreamEntry('https://mirror.corp:5000/')), { host: null, url: 'https://mirror.corp:5000' });
    assert.deepEqual(value(parseUpstreamEntry('GHCR.io=https://ghcr.io')), { host: 'ghcr.io', url: 'https://ghcr.io' });
  });

  void it('refuses other schemes, paths, queries, bad hosts and embedded credentials without echoing them', () => {
    assert.match(errors(parseUpstreamEntry('ftp://x.org')), /https:\/\/ or http:\/\//);
    assert.match(errors(parseUpstreamEntry('ghcr.io')), /not a URL/);
    assert.match(errors(parseUpstreamEntry('https://x.org/v2')), /bare origin/);
    assert.match(errors(parseUpstreamEntry('https://x.org/?a=b')), /bare origin/);
    assert.match(errors(parseUpstreamEntry('bad_host=https://x.org')), /not a registry host/);
    assert.match(errors(parseUpstreamEntry('myreg=https://x.org')), /needs a dot or a port/);
    const withPassword = errors(parseUpstreamEntry('https://user:s3cr3t@x.org'));
    assert.match(withPassword, /credentials/);
    assert.ok(!withPassword.includes('s3cr3t'));
  });

  void it('defaults to Docker Hub as docker.io', () => {
    assert.deepEqual(value(combineUpstreams([])), {
      default: { host: 'docker.io', url: 'https://registry-1.docker.io' },
      byHost: { 'docker.io': 'https://registry-1.docker.io' },
    });
  });

  void it('keeps Docker Hub as the default when only HOST=URL mappings are given', () => {
    const upstreams = value(combineUpstreams(entries('ghcr.io=https://ghcr.io')));
    assert.deepEqual(upstreams.default, { host: 'docker.io', url: 'https://registry-1.docker.io' });
    assert.deepEqual(upstreams.byHost, { 'ghcr.io': 'https://ghcr.io', 'docker.io': 'https://registry-1.docker.io' });
  });

  void it('names a bare URL by its host, folding Docker Hub API hosts into docker.io', () => {
    assert.deepEqual(value(combineUpstreams(entries('https://index.docker.io'))).default, {
      host: 'docker.io',
      url: 'https://index.docker.io',
    });
    assert.deepEqual(value(combineUpstreams(entries('http://localhost:5001'))).default, {
      host: 'localhost:5001',
      url: 'http://localhost:5001',
    });
  });

  void it('refuses two defaults and one host mapped to two URLs', () => {
    assert.match(errors(combineUpstreams(entries('https://a.org', 'https://b.org'))), /only one bare URL/);
    assert.match(errors(combineUpstreams(entries('x.org=https://a.org', 'x.org=https://b.org'))), /mapped twice/);
  });
});

void describe('small parsers', () => {
  void it('parseBoolean takes true/false/1/0 only', () => {
    assert.equal(value(parseBoolean('TRUE')), true);
    assert.equal(value(parseBoolean('1')), true);
    assert.equal(value(parseBoolean('false')), false);
    assert.equal(value(parseBoolean('0')), false);
    assert.match(errors(parseBoolean('yes')), /not a boolean/);
  });

  void it('choiceParser suggests the closest choice', () => {
    const parse = choiceParser(['proxy', 'redirect'] as const);
    assert.equal(value(parse('redirect')), 'redirect');
    assert.match(errors(parse('redirct')), /did you mean redirect\?/);
    assert.match(errors(parse('Proxy ')), /did you mean proxy\?/);
  });

  void it('parseNodeId accepts empty (generate) and DNS-label-like ids', () => {
    assert.equal(value(parseNodeId('')), '');
    assert.equal(value(parseNodeId('edge-01.site_a')), 'edge-01.site_a');
    assert.match(errors(parseNodeId('-x')), /not a node id/);
    assert.match(errors(parseNodeId('a b')), /not a node id/);
    assert.match(errors(parseNodeId('x'.repeat(64))), /not a node id/);
  });

  void it('parseDirectory expands ~ from the given env; the default follows XDG', () => {
    assert.equal(value(parseDirectory('~/cache', { HOME: '/home/u' })), '/home/u/cache');
    assert.equal(value(parseDirectory('/var/cache/ep', {})), '/var/cache/ep');
    assert.match(errors(parseDirectory('~/cache', {})), /HOME is not set/);
    assert.match(errors(parseDirectory('  ', {})), /empty/);
    assert.equal(value(defaultCacheDirectory({ XDG_CACHE_HOME: '/xdg', HOME: '/home/u' })), '/xdg/edgepier');
    assert.equal(value(defaultCacheDirectory({ XDG_CACHE_HOME: 'relative', HOME: '/home/u' })), '/home/u/.cache/edgepier');
    assert.match(errors(defaultCacheDirectory({})), /neither XDG_CACHE_HOME nor HOME/);
  });
});

void describe('credentials', () => {
  void it('reads JSON or YAML-shaped values, folding Docker Hub hosts', () => {
    assert.deepEqual(value(parseCredentialsJson('{"registry-1.docker.io": {"username": "u", "password": "p"}}')), {
      'docker.io': { username: 'u', password: 'p' },
    });
    assert.deepEqual(value(parseCredentialsValue({ 'ghcr.io': { username: 'u', password: 'p' } })), {
      'ghcr.io': { username: 'u', password: 'p' },
    });
  });

  void it('reports every problem without ever echoing a password', () => {
    const secret = 'hunter2-secret';
    const broken = errors(parseCredentialsJson(`{"ghcr.io": {"username": "u", password: "${secret}"}}`));
    assert.match(broken, /not valid JSON/);
    assert.ok(!broken.includes(secret), broken);

    const many = errors(
      parseCredentialsValue({
        'ghcr.io': { username: '', password: secret },
        'quay.io': { username: 'u', password: 42, token: secret },
        __proto__host: { username: 'u', password: secret },
        'docker.io': secret,
      }),
    );
    assert.match(many, /ghcr\.io: username must be a non-empty string/);
    assert.match(many, /quay\.io: unknown field "token"/);
    assert.match(many, /quay\.io: password must be a non-empty string, got a number/);
    assert.match(many, /"__proto__host" is not a registry host/);
    assert.match(many, /docker\.io: expected \{username, password\}, got a string/);
    assert.ok(!many.includes(secret), many);
  });
});
