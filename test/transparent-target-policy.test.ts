// The transparent proxy is no way into this machine: CONNECT and absolute-form requests to
// loopback, link-local, unspecified addresses (in any spelling, and after name resolution)
// are refused with 403 DENIED before any connection is opened, and only admitted clients get
// anything at all. Counting listeners on the refused addresses prove nothing reached them.
import assert from 'node:assert/strict';
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { connect as netConnect, createServer as createNetServer, type AddressInfo, type Server as NetServer } from 'node:net';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { pino } from 'pino';
import type { ResolveHost } from '../transparent/target-policy.js';
import { startTransparentProxy } from '../transparent/start-transparent-proxy.js';
import { rawExchange } from './support/proxy-client.js';
import { makeTempDir } from './support/temp-dir.js';

/** What the test resolver answers: names that rebind to this machine, or to a mix. */
const NAMES: Readonly<Record<string, ReadonlyArray<{ address: string; family: number }>>> = {
  'rebind.test': [{ address: '127.0.0.1', family: 4 }],
  'mapped.test': [{ address: '::ffff:127.0.0.1', family: 6 }],
  'metadata.test': [{ address: '169.254.169.254', family: 4 }],
  'six.test': [{ address: '::1', family: 6 }],
  // A public-looking answer first, loopback second: one bad answer refuses the name.
  'mixed.test': [{ address: '198.18.255.254', family: 4 }, { address: '127.0.0.1', family: 4 }],
};
const resolve: ResolveHost = (host) => {
  const answers = NAMES[host];
  return answers ? Promise.resolve(answers) : Promise.reject(Object.assign(new Error(`${host} not found`), { code: 'ENOTFOUND' }));
};

/** An address nobody in the allow list has: the stand-in for a LAN host that is not a client. */
const STRANGER = '127.0.0.3';

interface Counter {
  readonly port: number;
  connections: number;
}

async function countingListener(t: TestContext, host: string): Promise<Counter> {
  const server: NetServer = createNetServer();
  const counter = { port: 0, connections: 0 };
  server.on('connection', (socket) => {
    counter.connections += 1;
    socket.destroy();
  });
  await new Promise<void>((done) => server.listen(0, host, done));
  counter.port = (server.address() as AddressInfo).port;
  t.after(() => new Promise<void>((done) => server.close(() => done())));
  return counter;
}

interface PolicySite {
  readonly proxyPort: number;
  readonly v4: Counter;
  readonly v4b: Counter;
  readonly v6: Counter;
  readonly registry: { readonly url: string; readonly requests: string[] };
  readonly coreRequests: string[];
}

async function startPolicySite(t: TestContext): Promise<PolicySite> {
  const dir = await makeTempDir('target-policy');
  t.after(() => dir.remove());
  const [v4, v4b, v6] = [await countingListener(t, '127.0.0.1'), await countingListener(t, '127.0.0.2'), await countingListener(t, '::1')];
  // A configured plain-HTTP upstream on loopback: the operator chose it, so requests to it pass.
  const registryRequests: string[] = [];
  const registry: HttpServer = createHttpServer((request: IncomingMessage, response) => {
    registryRequests.push(`${request.method ?? ''} ${request.url ?? ''}`);
    response.end('registry');
  });
  await new Promise<void>((done) => registry.listen(0, '127.0.0.1', done));
  t.after(() => new Promise<void>((done) => registry.close(() => done())));
  const registryUrl = `http://127.0.0.1:${(registry.address() as AddressInfo).port}`;
  const coreRequests: string[] = [];
  const logger = pino({ level: 'silent' });
  const { proxy, address } = await startTransparentProxy({
    listen: { host: '127.0.0.1', port: 0 },
    caDir: join(dir.path, 'ca'),
    upstreams: { default: { host: 'plain.test', url: registryUrl }, byHost: { 'plain.test': registryUrl } },
    core: (request, response) => {
      coreRequests.push(request.url ?? '');
      response.end('core');
    },
    httpsAgent: new HttpsAgent(),
    timeoutMs: 2_000,
    nodeId: 'policy-node',
    clientAllow: { allows: (client) => client !== STRANGER && client !== `::ffff:${STRANGER}` },
    ownPorts: () => [],
    resolve,
    logger,
  });
  t.after(() => proxy.close(1_000));
  return { proxyPort: address.port, v4, v4b, v6, registry: { url: registryUrl, requests: registryRequests }, coreRequests };
}

/** Sends `line` (plus `extra` header lines and body) and expects 403 DENIED naming `reason` ('client': the admission check). */
async function expectDenied(site: PolicySite, line: string, reason: string, options: { localAddress?: string; extra?: string } = {}): Promise<void> {
  const answer = await rawExchange(site.proxyPort, `${line}\r\nHost: x\r\nConnection: close\r\n${options.extra ?? '\r\n'}`, options);
  assert.equal(answer.status, 403, `${line} → ${answer.head}`);
  assert.match(answer.head, /content-type: application\/json/i, line);
  const error = (JSON.parse(answer.body) as { errors: Array<{ code: string; message: string; detail: { reason?: string } }> }).errors[0];
  assert.equal(error?.code, 'DENIED', `${line}: ${answer.body}`);
  if (reason !== 'client') assert.equal(error.detail.reason, reason, `${line}: ${answer.body}`);
  assert.ok(error.message.length > 20, `${line}: the message says why: ${error.message}`);
}

test('CONNECT to this machine is refused in every spelling, after resolution too, and reaches nothing', async (t) => {
  const site = await startPolicySite(t);
  const { v4, v4b, v6 } = site;
  const cases: Array<[string, string]> = [
    [`127.0.0.1:${v4.port}`, 'loopback'],
    [`127.0.0.2:${v4b.port}`, 'loopback'],
    [`localhost:${v4.port}`, 'loopback'],
    [`LocalHost.:${v4.port}`, 'loopback'],
    [`metrics.localhost:${v4.port}`, 'loopback'],
    [`[::1]:${v6.port}`, 'loopback'],
    [`[::ffff:127.0.0.1]:${v4.port}`, 'loopback'],
    [`[::ffff:7f00:1]:${v4.port}`, 'loopback'],
    [`[0:0:0:0:0:ffff:7f00:0001]:${v4.port}`, 'loopback'],
    [`0.0.0.0:${v4.port}`, 'unspecified'],
    [`[::]:${v6.port}`, 'unspecified'],
    ['169.254.169.254:80', 'link-local'],
    ['[fe80::1]:443', 'link-local'],
    // A zone id names an interface, not another address.
    ['[fe80::1%eth0]:443', 'link-local'],
    [`[::1%lo]:${v6.port}`, 'loopback'],
    [`rebind.test:${v4.port}`, 'loopback'],
    [`mapped.test:${v4.port}`, 'loopback'],
    [`six.test:${v6.port}`, 'loopback'],
    [`mixed.test:${v4.port}`, 'loopback'],
    ['metadata.test:80', 'link-local'],
  ];
  for (const [target, reason] of cases) await expectDenied(site, `CONNECT ${target} HTTP/1.1`, reason);
  assert.deepEqual([v4.connections, v4b.connections, v6.connections], [0, 0, 0], 'no refused CONNECT opened a connection');

  // A name that does not resolve is the same 502 as an unreachable host, not a hang.
  const unknown = await rawExchange(site.proxyPort, 'CONNECT nowhere.test:443 HTTP/1.1\r\nHost: x\r\n\r\n');
  assert.equal(unknown.status, 502, unknown.head);
  assert.match(unknown.body, /"code":"UPSTREAM_ERROR".*nowhere\.test could not be resolved \(ENOTFOUND\)/);
});

test('absolute-form requests to this machine are refused for every method, and reach nothing', async (t) => {
  const site = await startPolicySite(t);
  const { v4, v4b, v6 } = site;
  const cases: Array<[string, string, string?]> = [
    [`GET http://127.0.0.1:${v4.port}/metrics HTTP/1.1`, 'loopback'],
    [`POST http://127.0.0.2:${v4b.port}/admin HTTP/1.1`, 'loopback', 'Content-Length: 2\r\n\r\n{}'],
    [`DELETE http://localhost:${v4.port}/ HTTP/1.1`, 'loopback'],
    [`GET http://[::1]:${v6.port}/ HTTP/1.1`, 'loopback'],
    [`GET http://[::ffff:127.0.0.1]:${v4.port}/ HTTP/1.1`, 'loopback'],
    // The URL parser reads these as 127.0.0.1, and so does getaddrinfo.
    [`GET http://2130706433:${v4.port}/ HTTP/1.1`, 'loopback'],
    [`GET http://0x7f.1:${v4.port}/ HTTP/1.1`, 'loopback'],
    [`PUT http://0.0.0.0:${v4.port}/ HTTP/1.1`, 'unspecified', 'Content-Length: 0\r\n\r\n'],
    ['GET http://169.254.169.254/latest/meta-data/iam/security-credentials/ HTTP/1.1', 'link-local'],
    [`GET http://rebind.test:${v4.port}/ HTTP/1.1`, 'loopback'],
    ['GET http://metadata.test/latest/meta-data/ HTTP/1.1', 'link-local'],
  ];
  for (const [line, reason, extra] of cases) await expectDenied(site, line, reason, extra === undefined ? {} : { extra });
  assert.deepEqual([v4.connections, v4b.connections, v6.connections], [0, 0, 0], 'no refused request opened a connection');

  // The configured upstream is the operator's choice: pulls go to the core, the rest is forwarded to it.
  const pull = await rawExchange(site.proxyPort, `GET ${site.registry.url}/v2/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
  assert.equal(pull.body, 'core');
  const push = await rawExchange(site.proxyPort, `POST ${site.registry.url}/v2/app/blobs/uploads/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  assert.equal(push.body, 'registry');
  assert.deepEqual(site.registry.requests, ['POST /v2/app/blobs/uploads/']);

  // The counters do count: a direct connection is seen.
  await new Promise<void>((done, fail) => {
    const socket = netConnect({ host: '127.0.0.1', port: v4.port });
    socket.once('close', () => done());
    socket.once('error', fail);
  });
  assert.equal(v4.connections, 1);
});

test('a client outside the allow list gets 403 DENIED before any tunnel, interception or forward', async (t) => {
  const site = await startPolicySite(t);
  const fromStranger = { localAddress: STRANGER };
  await expectDenied(site, `CONNECT 127.0.0.1:${site.v4.port} HTTP/1.1`, 'client', fromStranger);
  await expectDenied(site, `GET ${site.registry.url}/v2/ HTTP/1.1`, 'client', fromStranger);
  await expectDenied(site, `POST ${site.registry.url}/v2/app/blobs/uploads/ HTTP/1.1`, 'client', fromStranger);
  const answer = await rawExchange(site.proxyPort, `GET ${site.registry.url}/v2/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, fromStranger);
  const error = (JSON.parse(answer.body) as { errors: Array<{ message: string; detail: { client: string } }> }).errors[0];
  assert.match(error?.message ?? '', /127\.0\.0\.3 may not use this proxy/);
  // Not HTTP at all: an error, and the connection closes; nothing is tunnelled.
  const garbage = await rawExchange(site.proxyPort, '\u0016\u0003\u0001 not http\r\n\r\n', fromStranger);
  assert.equal(garbage.status, 400, garbage.head);
  assert.deepEqual([site.coreRequests, site.registry.requests, site.v4.connections], [[], [], 0], 'nothing was served or reached for the stranger');

  // The same requests from an allowed address are served.
  const allowed = await rawExchange(site.proxyPort, `GET ${site.registry.url}/v2/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
  assert.equal(allowed.body, 'core');
  assert.equal(site.coreRequests.length, 1);
});

