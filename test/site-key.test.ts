// The site key: the file, the command that makes it, and what is derived from it.
import assert from 'node:assert/strict';
import { chmod, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runSiteKeyCommand } from '../cli/commands/site-key-command.js';
import { ClientAllowList } from '../config/client-allow-list.js';
import { signRedirect, verifyRedirect } from '../site/redirect-ticket.js';
import { loadSiteKey, SiteKey } from '../site/site-key.js';
import { makeTempDir } from './support/temp-dir.js';

function capture(): { io: Parameters<typeof runSiteKeyCommand>[1]; out: () => string; err: () => string } {
  let out = '';
  let err = '';
  return {
    io: { env: {}, stdout: { write: (text: string) => (out += text), isTTY: false }, stderr: { write: (text: string) => (err += text) } },
    out: () => out,
    err: () => err,
  };
}

describe('edgepier site-key', () => {
  let dir: { path: string; remove: () => Promise<void> };
  before(async () => {
    dir = await makeTempDir('site-key');
  });
  after(() => dir.remove());

  test('generate FILE writes an owner-only key that serve can load, and never overwrites one', async () => {
    const file = join(dir.path, 'site.key');
    const first = capture();
    assert.equal(await runSiteKeyCommand(['generate', file], first.io), 0, first.err());
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    const key = await loadSiteKey(file);
    assert.match(first.err(), new RegExp(`fingerprint ${key.fingerprint}`));
    const again = capture();
    assert.equal(await runSiteKeyCommand(['generate', file], again.io), 1);
    assert.match(again.err(), /exists already/);
    assert.equal((await loadSiteKey(file)).fingerprint, key.fingerprint, 'the first key is untouched');
    const printed = capture();
    assert.equal(await runSiteKeyCommand(['fingerprint', file], printed.io), 0);
    assert.equal(printed.out(), `${key.fingerprint}\n`);
  });

  test('generate without FILE prints 32 random bytes as base64, a new key each time', async () => {
    const one = capture();
    const two = capture();
    assert.equal(await runSiteKeyCommand(['generate'], one.io), 0);
    assert.equal(await runSiteKeyCommand(['generate'], two.io), 0);
    assert.equal(Buffer.from(one.out().trim(), 'base64').length, 32);
    assert.notEqual(one.out(), two.out());
  });

  test('a key file others may read, anyone but the owner may write, too short or not a key is refused with what to do', async () => {
    const open = join(dir.path, 'open.key');
    await writeFile(open, `${Buffer.alloc(32, 1).toString('base64')}\n`, { mode: 0o600 });
    await chmod(open, 0o644);
    await assert.rejects(loadSiteKey(open), /is open to others \(mode 644\): run chmod 600/);
    await chmod(open, 0o620);
    await assert.rejects(loadSiteKey(open), /is open to others \(mode 620\)/, 'nor may the group write it');
    await chmod(open, 0o440);
    assert.equal((await loadSiteKey(open)).fingerprint.length, 16, 'group read is how Kubernetes mounts a Secret for fsGroup');
    const short = join(dir.path, 'short.key');
    await writeFile(short, `${Buffer.alloc(16, 1).toString('base64')}\n`, { mode: 0o600 });
    await assert.rejects(loadSiteKey(short), /holds 16 bytes of key; a site key needs at least 32/);
    const junk = join(dir.path, 'junk.key');
    await writeFile(junk, 'not a key at all!\n', { mode: 0o600 });
    await assert.rejects(loadSiteKey(junk), /does not hold a site key/);
    await assert.rejects(loadSiteKey(join(dir.path, 'missing.key')), /edgepier site-key generate/);
    const usage = capture();
    assert.equal(await runSiteKeyCommand(['rotate'], usage.io), 2);
  });
});

describe('what the site key proves', () => {
  const key = new SiteKey(Buffer.alloc(32, 7));
  const other = new SiteKey(Buffer.alloc(32, 8));

  test('each use has its own derived key, and another key is another site', () => {
    assert.notDeepEqual(key.tlsPsk, Buffer.alloc(32, 7), 'the raw secret is never the TLS key');
    assert.notEqual(key.announcementMac('x'), key.ticketMac('x').slice(0, 22), 'an announcement MAC is no ticket');
    assert.equal(key.verifyAnnouncement('fields', key.announcementMac('fields')), true);
    assert.equal(other.verifyAnnouncement('fields', key.announcementMac('fields')), false);
    assert.equal(key.verifyAnnouncement('fields!', key.announcementMac('fields')), false);
    assert.notEqual(key.fingerprint, other.fingerprint);
  });

  test('a redirect ticket is valid for its one blob until it expires', () => {
    const grant = { path: '/v2/app/blobs/sha256:aa', registry: 'docker.io', issuer: 'node-1', ownerFetch: true, expires: 1_000 };
    const mac = signRedirect(key, grant);
    assert.equal(verifyRedirect(key, grant, mac, 999_000), 'valid');
    assert.equal(verifyRedirect(key, grant, mac, 1_000_001), 'expired');
    assert.equal(verifyRedirect(key, { ...grant, path: '/v2/app/blobs/sha256:bb' }, mac, 999_000), 'forged');
    assert.equal(verifyRedirect(key, { ...grant, ownerFetch: false }, mac, 999_000), 'forged');
    assert.equal(verifyRedirect(other, grant, mac, 999_000), 'forged');
  });
});

describe('ClientAllowList', () => {
  test('loopback always, the configured blocks, IPv4-mapped IPv6 as IPv4, nothing else', () => {
    const allow = new ClientAllowList([
      { network: '198.18.1.0', prefix: 24, family: 'ipv4' },
      { network: 'fd00::', prefix: 8, family: 'ipv6' },
    ]);
    for (const address of ['127.0.0.1', '127.8.9.10', '::1', '::ffff:127.0.0.1', '198.18.1.77', '::ffff:198.18.1.77', 'fd12::1']) {
      assert.equal(allow.allows(address), true, address);
    }
    for (const address of ['198.18.2.1', '::ffff:198.18.2.1', '10.0.0.1', 'fe80::1', '', undefined]) {
      assert.equal(allow.allows(address), false, String(address));
    }
  });
});
