// Property-based tests of the config value parsers (flags, env, file): whatever the text, a
// parser returns a Parsed (never throws), and what it accepts reads back or agrees with Node.
import assert from 'node:assert/strict';
import { BlockList, isIP } from 'node:net';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ClientAllowList } from '../config/client-allow-list.js';
import { parseBoolean } from '../config/parse-boolean.js';
import { choiceParser } from '../config/parse-choice.js';
import { formatCidr, parseCidr } from '../config/parse-cidr.js';
import { formatDuration, MAX_TIMER_MS, parseDuration } from '../config/parse-duration.js';
import { formatHostPort, parseHostPort } from '../config/parse-host-port.js';
import { parseNodeId } from '../config/parse-node-id.js';
import { formatPercent, parsePercent } from '../config/parse-percent.js';
import { formatByteSize, formatCacheMaxSize, parseByteSize, parseCacheMaxSize } from '../config/parse-size.js';
import { parseUpstreamEntry } from '../config/parse-upstreams.js';
import { loadConfig } from '../config/load-config.js';
import type { Parsed } from '../config/parsed.js';
import { parseRegistryHost } from '../config/registry-host.js';
import { SETTINGS } from '../config/settings.js';
import { check, textFrom } from './support/property.js';

/** Text that looks like an object's own keys: a lookup table must not answer for them. */
const PROTOTYPE_WORDS = ['constructor', '__proto__', 'toString', 'valueOf', 'hasOwnProperty', 'prototype'];

function parsedShape<T>(parsed: Parsed<T>): void {
  if (parsed.ok) return;
  assert.ok(parsed.errors.length > 0 && parsed.errors.every((error) => typeof error === 'string' && error.length > 0));
}

function value<T>(parsed: Parsed<T>): T {
  if (!parsed.ok) assert.fail(parsed.errors.join('; '));
  return parsed.value;
}

const decimal = fc.oneof(fc.nat({ max: 100_000 }).map(String), fc.tuple(fc.nat(999), fc.nat(999_999)).map(([whole, fraction]) => `${whole}.${fraction}`), fc.bigInt({ min: 0n, max: 10n ** 25n }).map(String));

void describe('sizes (property)', () => {
  const sizeText = fc.oneof(
    fc.tuple(decimal, fc.constantFrom('', ' ', '  '), fc.constantFrom('', 'b', 'B', 'kB', 'KB', 'MiB', 'mib', 'GiB', 'TB', 'PiB', 'pb', 'x', 'KiBs', ...PROTOTYPE_WORDS)).map((parts) => parts.join('')),
    textFrom(['1', '0', '.', '5', 'k', 'M', 'i', 'B', '%', ' ', '-', 'e', ...PROTOTYPE_WORDS]),
  );

  void it('parseByteSize and parseCacheMaxSize never throw, and give whole safe byte counts', () => {
    check(
      fc.property(sizeText, (text) => {
        const bytes = parseByteSize(text);
        parsedShape(bytes);
        if (bytes.ok) assert.ok(Number.isSafeInteger(bytes.value) && bytes.value >= 0, `${text} → ${bytes.value}`);
        const budget = parseCacheMaxSize(text);
        parsedShape(budget);
        if (budget.ok) assert.deepEqual(parseCacheMaxSize(formatCacheMaxSize(budget.value)), budget);
      }),
    );
  });

  void it('formatByteSize reads back as the same size', () => {
    check(fc.property(fc.nat({ max: Number.MAX_SAFE_INTEGER }), (bytes) => assert.equal(value(parseByteSize(formatByteSize(bytes))), bytes)));
  });
});

void describe('durations and percentages (property)', () => {
  const durationText = fc.oneof(
    fc.array(fc.tuple(decimal, fc.constantFrom('ms', 's', 'm', 'h', 'd', '')), { minLength: 1, maxLength: 4 }).map((parts) => parts.map((part) => part.join('')).join('')),
    textFrom(['1', '0', '.', 'ms', 's', 'm', 'h', ' ', '-', ...PROTOTYPE_WORDS]),
  );

  void it('parseDuration never throws, stays within its bounds, and formatDuration reads back', () => {
    check(
      fc.property(durationText, fc.nat({ max: 10_000 }), (text, minMs) => {
        const parsed = parseDuration(text, { minMs, maxMs: MAX_TIMER_MS });
        parsedShape(parsed);
        if (!parsed.ok) return;
        assert.ok(Number.isSafeInteger(parsed.value) && parsed.value >= minMs && parsed.value <= MAX_TIMER_MS);
        assert.equal(value(parseDuration(formatDuration(parsed.value))), parsed.value);
      }),
    );
  });

  void it('parsePercent never throws, accepts (0, 100] only, and reads back', () => {
    check(
      fc.property(fc.oneof(decimal.map((text) => `${text}%`), textFrom(['1', '0', '.', '%', ' ', '-', '100', 'e5'])), (text) => {
        const parsed = parsePercent(text);
        parsedShape(parsed);
        if (!parsed.ok) return;
        assert.ok(parsed.value > 0 && parsed.value <= 100);
        assert.equal(value(parsePercent(formatPercent(parsed.value))), parsed.value);
      }),
    );
  });
});

void describe('booleans, choices and node ids (property)', () => {
  void it('parseBoolean accepts exactly true, false, 1 and 0 in any case', () => {
    check(
      fc.property(fc.oneof(fc.mixedCase(fc.constantFrom('true', 'false', 'yes', 'on', 'off', '1', '0', ' true ')), textFrom(['t', 'r', 'u', 'e', '1', '0', ' ', ...PROTOTYPE_WORDS])), (text) => {
        const parsed = parseBoolean(text);
        parsedShape(parsed);
        const expected = ({ true: true, 1: true, false: false, 0: false } as Record<string, boolean>)[text.trim().toLowerCase()];
        assert.equal(parsed.ok ? parsed.value : undefined, Object.hasOwn({ true: 1, 1: 1, false: 1, 0: 1 }, text.trim().toLowerCase()) ? expected : undefined);
      }),
    );
  });

  void it('a choice parser accepts exactly its choices; a node id fits a DNS label', () => {
    const parse = choiceParser(['proxy', 'redirect']);
    check(
      fc.property(textFrom(['proxy', 'redirect', 'p', 'r', ' ', 'x', '.', '-', '_', 'a', ...PROTOTYPE_WORDS], 80), (text) => {
        const choice = parse(text);
        parsedShape(choice);
        assert.equal(choice.ok, text.trim() === 'proxy' || text.trim() === 'redirect');
        const id = parseNodeId(text);
        parsedShape(id);
        if (id.ok) assert.ok(id.value.length <= 63 && /^[a-zA-Z0-9._-]*$/.test(id.value));
      }),
    );
  });
});

void describe('addresses (property)', () => {
  const v4 = fc.ipV4().map((address) => address);
  const v6 = fc.ipV6();
  const addressish = fc.oneof(v4, v6, fc.ipV4Extended(), textFrom(['1', '2', '5', '.', ':', '::', 'ffff', 'a', '%', 'eth0', '[', ']', '0', '00'], 30));

  void it('parseCidr accepts exactly what net.BlockList accepts, and reads back from formatCidr', () => {
    check(
      fc.property(addressish, fc.oneof(fc.constant(''), fc.nat(140).map((prefix) => `/${prefix}`), textFrom(['/', '1', '0', '-', ' '], 5)), (network, suffix) => {
        const text = `${network}${suffix}`;
        const parsed = parseCidr(text);
        parsedShape(parsed);
        // The reference: what node itself takes as a subnet, prefix as written.
        const slash = text.trim().indexOf('/');
        const address = slash < 0 ? text.trim() : text.trim().slice(0, slash);
        const prefixText = slash < 0 ? undefined : text.trim().slice(slash + 1);
        const version = isIP(address);
        const prefix = prefixText === undefined ? (version === 4 ? 32 : 128) : /^\d+$/.test(prefixText) ? Number(prefixText) : Number.NaN;
        let nodeAccepts = version !== 0 && Number.isInteger(prefix);
        if (nodeAccepts) {
          try {
            new BlockList().addSubnet(address, prefix, version === 4 ? 'ipv4' : 'ipv6');
          } catch {
            nodeAccepts = false;
          }
        }
        assert.equal(parsed.ok, nodeAccepts, `${JSON.stringify(text)}: parseCidr ${parsed.ok ? 'accepts' : 'refuses'}, BlockList ${nodeAccepts ? 'accepts' : 'refuses'}`);
        if (!parsed.ok) return;
        assert.deepEqual(parseCidr(formatCidr(parsed.value)), parsed);
        // And the allow list built from it never throws on any address a socket may report.
        const list = new ClientAllowList([parsed.value]);
        assert.equal(list.allows(address), true);
      }),
    );
  });

  void it('ClientAllowList.allows never throws, whatever text stands for the remote address', () => {
    const list = new ClientAllowList([value(parseCidr('198.18.0.0/15')), value(parseCidr('fd00::/8'))]);
    check(fc.property(fc.oneof(addressish, fc.constant(undefined)), (address) => assert.equal(typeof list.allows(address), 'boolean')));
  });

  void it('parseHostPort never throws, and what it accepts formats back to itself', () => {
    const hostish = fc.oneof(v4, v6.map((address) => `[${address}]`), fc.domain(), textFrom(['a', '-', '.', '[', ']', ':', '1', '::', ' ', '%', 'localhost'], 30));
    const port = fc.oneof(fc.nat(70_000).map(String), textFrom(['0', '1', '9', '-', ' ', 'x'], 8));
    check(
      fc.property(hostish, port, fc.boolean(), (host, portText, allowPortZero) => {
        const parsed = parseHostPort(`${host}:${portText}`, { allowPortZero });
        parsedShape(parsed);
        if (!parsed.ok) return;
        assert.ok(Number.isInteger(parsed.value.port) && parsed.value.port >= (allowPortZero ? 0 : 1) && parsed.value.port <= 65535);
        assert.deepEqual(parseHostPort(formatHostPort(parsed.value), { allowPortZero }), parsed);
      }),
    );
  });

  void it('registry hosts and upstream entries never throw', () => {
    const text = fc.oneof(fc.webUrl(), fc.domain(), fc.tuple(fc.domain(), fc.webUrl()).map(([host, url]) => `${host}=${url}`), textFrom(['https://', 'http://', 'ftp://', '=', ':', '@', 'user:pw@', '/', '?', '#', '[::1]', 'a.b', '5000', ' ', '%'], 20));
    check(
      fc.property(text, (entry) => {
        parsedShape(parseUpstreamEntry(entry));
        parsedShape(parseRegistryHost(entry));
      }),
    );
  });
});

void describe('the whole configuration (property)', () => {
  const specs = Object.values(SETTINGS);
  const flags = specs.flatMap((spec) => (spec.flag === null ? [] : [spec.flag]));
  const envNames = specs.flatMap((spec) => (spec.env === null ? [] : [spec.env]));
  const yamlKeys = specs.flatMap((spec) => (spec.yamlKey === null ? [] : [spec.yamlKey]));
  const settingValue = textFrom(['0', '1', '5000', ':', '.', '/', '127.0.0.1', '[::1]', 'https://', 'GiB', '%', 's', ',', '=', ' ', 'true', '-', ...PROTOTYPE_WORDS], 12);
  const argv = fc.array(fc.oneof(fc.constantFrom(...flags, '--help', '--', '-x', '--no-such-flag', '--listen='), settingValue), { maxLength: 8 });
  const env = fc.dictionary(fc.constantFrom(...envNames, 'EDGEPIER_NOPE', 'PATH', 'HOME', 'XDG_CACHE_HOME'), settingValue, { maxKeys: 5 });
  const yamlValue = fc.oneof(settingValue, fc.integer(), fc.boolean(), fc.constant(null), fc.array(settingValue, { maxLength: 3 }), fc.dictionary(fc.string({ maxLength: 6 }), settingValue, { maxKeys: 3 }));
  const yamlText = fc.oneof(
    fc.dictionary(fc.oneof(fc.constantFrom(...yamlKeys), fc.constantFrom(...PROTOTYPE_WORDS)), yamlValue, { maxKeys: 6 }).map((entries) => JSON.stringify(entries)),
    textFrom(['a: ', 'b', '\n', '- ', '{', '}', '[', ']', ':', '"', "'", '&x', '*x', '!!binary', '<<: ', ...yamlKeys.slice(0, 6)], 30),
  );

  void it('loadConfig returns a config or problems with messages, for any argv, env and file text, never a throw', () => {
    check(
      fc.property(argv, env, fc.option(yamlText, { nil: undefined }), (args, variables, file) => {
        const result = loadConfig({
          argv: file === undefined ? args : ['--config', '/etc/edgepier.yaml', ...args],
          env: variables,
          readFile: () => file ?? '',
        });
        if (result.ok) return;
        assert.ok(result.problems.length > 0);
        for (const problem of result.problems) assert.ok(typeof problem.setting === 'string' && problem.message.length > 0);
      }),
      500,
    );
  });
});
