// Property-based tests of the parsers that read what other machines send: an upstream's
// WWW-Authenticate and Content-Range, a proxy client's CONNECT target and Via, an mDNS packet's
// records and seal, a peer's headers and redirect ticket. Whatever arrives, only the domain's
// own error (or a plain "no") comes out.
import assert from 'node:assert/strict';
import { BlockList, isIP } from 'node:net';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import type { TLSSocket } from 'node:tls';
import fc from 'fast-check';
import { announcementFields } from '../discovery/announcement-seal.js';
import { addressData, queryQuestions, responseRecords, srvData, txtData } from '../discovery/mdns-wire.js';
import { RegistryError } from '../oci/registry-error.js';
import { peerAdmission } from '../server/peer-admission.js';
import type { RegistryContext } from '../server/registry-handler.js';
import { signRedirect, verifyRedirect } from '../site/redirect-ticket.js';
import { SiteKey } from '../site/site-key.js';
import { formatConnectTarget, parseConnectTarget } from '../transparent/connect-target.js';
import { InvalidTlsHost, parseTlsHost } from '../transparent/issue-certificates.js';
import { hasPassedThrough, viaEntry } from '../transparent/via.js';
import { blobFromResponse } from '../upstream/blob-response.js';
import { challengeRealm, parseWwwAuthenticate } from '../upstream/www-authenticate.js';
import { check, domainOutcome, textFrom } from './support/property.js';

const KEY = new SiteKey(Buffer.alloc(32, 7));

void describe('WWW-Authenticate (property)', () => {
  const headerText = fc.oneof(
    textFrom(['Bearer ', 'Basic ', 'bearer', 'realm', 'service', 'scope', '=', '"', '\\', ',', ' ', 'https://', 'http://', 'a', '__proto__', 'constructor', ':', '[', '%'], 30),
    fc.string({ unit: 'binary', maxLength: 300 }),
  );

  void it('gives a challenge with string parameters or undefined, and a realm URL or undefined, never a throw', () => {
    check(
      fc.property(fc.oneof(headerText, fc.array(headerText, { maxLength: 3 }), fc.constant(undefined)), (header) => {
        const challenge = parseWwwAuthenticate(header);
        if (challenge === undefined) return;
        assert.ok(challenge.scheme === 'bearer' || challenge.scheme === 'basic');
        for (const [name, value] of Object.entries(challenge.parameters)) {
          assert.equal(typeof value, 'string', name);
          assert.equal(name, name.toLowerCase());
        }
        assert.equal(Object.getPrototypeOf(challenge.parameters), Object.prototype);
        const realm = challengeRealm(challenge);
        if (realm !== undefined) assert.ok(realm.protocol === 'https:' || realm.protocol === 'http:');
      }),
    );
  });

  void it('reads back the parameters a registry writes, quotes and backslashes escaped', () => {
    const name = fc.stringMatching(/^[a-z_][a-z0-9_-]{0,12}$/).filter((text) => text !== '__proto__');
    const value = fc.string({ unit: 'grapheme-ascii', maxLength: 40 }).filter((text) => !/[\r\n]/.test(text));
    check(
      fc.property(fc.constantFrom('Bearer', 'bearer', 'Basic'), fc.uniqueArray(fc.tuple(name, value), { selector: ([key]) => key, maxLength: 5 }), (scheme, parameters) => {
        const header = `${scheme} ${parameters.map(([key, text]) => `${key}="${text.replace(/["\\]/g, (char) => `\\${char}`)}"`).join(',')}`;
        const challenge = parseWwwAuthenticate(header);
        assert.deepEqual(challenge?.parameters, Object.fromEntries(parameters));
      }),
    );
  });
});

void describe('Content-Range and Content-Length from a source (property)', () => {
  const number = fc.oneof(fc.nat(2000).map(String), fc.bigInt({ min: 0n, max: 10n ** 22n }).map(String), textFrom(['1', '-', 'x', ' '], 4));
  // Node's HTTP parser refuses a Content-Length that is not digits; Content-Range it passes as is.
  const length = fc.oneof(fc.nat(2000).map(String), fc.bigInt({ min: 0n, max: 10n ** 22n }).map(String));
  const contentRange = fc.oneof(fc.tuple(number, number, number).map(([a, b, c]) => `bytes ${a}-${b}/${c}`), textFrom(['bytes ', '*', '/', '-', '0', '9', ' '], 12), fc.constant(undefined));

  void it('yields a size that is a safe byte count (or none), a range inside it, or UPSTREAM_ERROR', () => {
    const statusError = new Error('status');
    check(
      fc.property(fc.constantFrom(200, 206, 404, 416, 500), fc.nat(2000), contentRange, fc.option(length, { nil: undefined }), (statusCode, offset, range, length) => {
        const body = new PassThrough();
        const headers = { ...(range !== undefined ? { 'content-range': range } : {}), ...(length !== undefined ? { 'content-length': length } : {}) };
        const outcome = domainOutcome(
          () => blobFromResponse({ statusCode, headers, body }, offset, 'source', () => statusError),
          (error) => error === statusError || (error instanceof RegistryError && error.code === 'UPSTREAM_ERROR'),
        );
        if ('error' in outcome) {
          assert.ok(body.destroyed, 'a refused answer frees its socket');
          return;
        }
        const { size } = outcome.value;
        assert.ok(statusCode === 200 || statusCode === 206);
        if (size !== undefined) assert.ok(Number.isSafeInteger(size) && size >= 0, `size ${size}`);
        if (statusCode === 206) {
          assert.equal(outcome.value.offset, offset);
          assert.ok(size !== undefined && offset < size, `offset ${offset} of ${size}`);
        }
        body.destroy();
      }),
    );
  });
});

void describe('transparent mode: CONNECT targets, TLS hosts and Via (property)', () => {
  const targetText = fc.oneof(
    fc.tuple(fc.oneof(fc.domain(), fc.ipV4(), fc.ipV6().map((address) => `[${address}]`)), fc.oneof(fc.nat(70_000).map(String), fc.constant(''))).map(([host, port]) => `${host}:${port}`),
    textFrom(['a', '.', '-', '_', ':', '[', ']', '::1', '1', '0', '@', '/', 'http://', ' ', '%', 'localhost', '443'], 40),
    fc.string({ unit: 'binary', maxLength: 300 }),
  );

  void it('parseConnectTarget gives a dialable host and port or a problem, and its format reads back', () => {
    check(
      fc.property(targetText, (text) => {
        const target = parseConnectTarget(text);
        if ('problem' in target) {
          assert.equal(typeof target.problem, 'string');
          return;
        }
        assert.ok(Number.isInteger(target.port) && target.port >= 1 && target.port <= 65535);
        assert.ok(!/[\s/@[\]]/.test(target.host), target.host);
        assert.deepEqual(parseConnectTarget(formatConnectTarget(target)), target);
      }),
    );
  });

  void it('parseTlsHost throws only InvalidTlsHost, and an IP literal keeps the address node reads from it', () => {
    const hostText = fc.oneof(fc.domain(), fc.ipV4(), fc.ipV6(), fc.ipV4Extended(), textFrom(['a', '.', '-', ':', '::', 'ffff', '1', '255', '%', ' ', '*'], 30));
    check(
      fc.property(hostText, (text) => {
        const outcome = domainOutcome(() => parseTlsHost(text), (error) => error instanceof InvalidTlsHost);
        if (!('value' in outcome) || outcome.value.address === undefined) return;
        const { address } = outcome.value;
        const family = isIP(text) === 4 ? 'ipv4' : 'ipv6';
        // The reference: node's own parse of the literal names the same address as the form written into the certificate.
        const list = new BlockList();
        list.addAddress(text, family);
        assert.ok(list.check(address, family), `${text} → ${address}`);
      }),
    );
  });

  void it('hasPassedThrough never throws and finds our entry wherever it stands in the list', () => {
    const entry = viaEntry('node-1');
    check(
      fc.property(fc.array(textFrom(['1.1 ', 'edgepier-', 'node-1', ',', ' ', 'proxy'], 10), { maxLength: 4 }), fc.nat(4), (values, at) => {
        assert.equal(typeof hasPassedThrough(values, entry), 'boolean');
        const withOurs = [...values];
        withOurs.splice(Math.min(at, withOurs.length), 0, ` ${entry} `);
        assert.equal(hasPassedThrough(withOurs.join(','), entry), true);
      }),
    );
  });
});

void describe('mDNS packets and announcement seals (property)', () => {
  const recordish = fc.record(
    {
      name: fc.oneof(fc.domain(), fc.string(), fc.anything()),
      type: fc.oneof(fc.constantFrom('PTR', 'SRV', 'TXT', 'A', 'AAAA', 'ANY'), fc.anything()),
      ttl: fc.oneof(fc.integer(), fc.double(), fc.anything()),
      data: fc.oneof(
        fc.anything(),
        fc.array(fc.oneof(fc.uint8Array({ maxLength: 40 }).map((bytes) => Buffer.from(bytes)), textFrom(['id=', 'v=', 'a=', 'mac=', '=', ',', '1'], 10))),
        fc.record({ port: fc.oneof(fc.integer(), fc.double(), fc.anything()), target: fc.oneof(fc.domain(), fc.anything()) }, { requiredKeys: [] }),
      ),
    },
    { requiredKeys: [] },
  );
  const packetish = fc.oneof(fc.anything(), fc.record({ answers: fc.oneof(fc.array(recordish, { maxLength: 6 }), fc.anything()), additionals: fc.array(recordish, { maxLength: 4 }), questions: fc.oneof(fc.array(recordish, { maxLength: 4 }), fc.anything()) }, { requiredKeys: [] }));

  void it('the record guards drop whatever is malformed and never throw', () => {
    check(
      fc.property(packetish, (packet) => {
        for (const question of queryQuestions(packet)) assert.equal(question.name, question.name.toLowerCase());
        for (const record of responseRecords(packet)) {
          assert.ok(record.ttl >= 0);
          const srv = srvData(record);
          if (srv) assert.ok(Number.isInteger(srv.port) && srv.port >= 1 && srv.port <= 65535 && srv.target.length > 0);
          for (const [key, value] of txtData(record)) assert.ok(typeof key === 'string' && key.length > 0 && typeof value === 'string');
          const address = addressData(record);
          if (address !== undefined) assert.equal(typeof address, 'string');
        }
      }),
    );
  });

  void it('a seal verifies for exactly the fields it was made over; any TXT text is checked without a throw', () => {
    const field = fc.option(textFrom(['node', '1', ',', '198.18.0.1', '"', '\\', '[', ']'], 12), { nil: undefined });
    check(
      fc.property(fc.string(), field, field, fc.option(fc.integer(), { nil: undefined }), field, fc.string({ maxLength: 40 }), (instance, id, version, port, addresses, mac) => {
        const fields = announcementFields(instance, id, version, port, addresses);
        if (fields === undefined) {
          assert.ok(id === undefined || version === undefined || port === undefined || addresses === undefined);
          return;
        }
        assert.equal(KEY.verifyAnnouncement(fields, mac), mac === KEY.announcementMac(fields));
        assert.equal(KEY.verifyAnnouncement(fields, KEY.announcementMac(fields)), true);
        // Fields are JSON, so no two different announcements share a sealed text.
        assert.equal(announcementFields(instance, `${id},`, version, port, addresses) === fields, false);
      }),
    );
  });
});

void describe('peer headers and redirect tickets (property)', () => {
  const queryValue = fc.oneof(fc.string({ maxLength: 80 }), fc.array(fc.string({ maxLength: 10 }), { maxLength: 3 }), fc.constant(undefined), fc.nat().map(String));
  const now = 1_800_000_000_000;

  function fakeContext(headers: Record<string, string>, query: Record<string, unknown>, encrypted: boolean, path: string): RegistryContext {
    const socket: Partial<TLSSocket> = encrypted ? { encrypted: true } : {};
    return { get: (name: string) => headers[name.toLowerCase()] ?? '', query, req: { socket }, path } as unknown as RegistryContext;
  }

  void it('peerAdmission answers an origin or an RegistryError for any headers and query, with or without a key', () => {
    const admitted = [peerAdmission(KEY, () => now), peerAdmission(undefined, () => now)];
    check(
      fc.property(
        fc.dictionary(fc.constantFrom('x-edgepier-peer', 'x-edgepier-owner-fetch', 'authorization'), fc.string({ maxLength: 100 })),
        fc.record({ 'edgepier-ticket': queryValue, 'edgepier-expires': queryValue, 'edgepier-peer': queryValue, 'edgepier-owner-fetch': queryValue, ns: queryValue }, { requiredKeys: [] }),
        fc.boolean(),
        fc.constantFrom('manifest', 'blob', 'tags', 'referrers' as const),
        fc.boolean(),
        fc.boolean(),
        (headers, query, encrypted, kind, byTag, authenticated) => {
          for (const originOf of admitted) {
            const ctx = fakeContext(headers, query, encrypted, `/v2/app/blobs/sha256:${'0'.repeat(64)}`);
            const route = { registry: 'docker.io', repository: 'app', client: undefined, authenticated } as never;
            const outcome = domainOutcome(() => originOf(ctx, { route, kind, byTag }), (error) => error instanceof RegistryError);
            if ('value' in outcome) {
              assert.equal(outcome.value.fromPeer, true);
              assert.ok((outcome.value.peerId ?? '').length <= 64);
            }
          }
        },
      ),
    );
  });

  void it('a ticket is valid only for the grant it was signed for, until it expires; any text is checked without a throw', () => {
    const grant = fc.record({ path: fc.string({ maxLength: 80 }), registry: fc.string({ maxLength: 20 }), issuer: fc.string({ maxLength: 20 }), ownerFetch: fc.boolean(), expires: fc.oneof(fc.integer(), fc.double()) });
    check(
      fc.property(grant, grant, fc.string({ maxLength: 60 }), fc.integer(), (signed, asked, forged, nowMs) => {
        const ticket = signRedirect(KEY, signed);
        const same = JSON.stringify(Object.values(signed)) === JSON.stringify(Object.values(asked));
        const verdict = verifyRedirect(KEY, asked, ticket, nowMs);
        if (!same) assert.equal(verdict, 'forged');
        else assert.equal(verdict, signed.expires * 1000 < nowMs ? 'expired' : 'valid');
        assert.ok(['valid', 'expired', 'forged'].includes(verifyRedirect(KEY, asked, forged, nowMs)));
      }),
    );
  });
});
