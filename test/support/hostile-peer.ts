// A hostile host on the site LAN, run inside a network namespace:
//   node --import tsx hostile-peer.ts '<json HostileConfig>'
// It does what an attacker without the site key would: announces many fake EdgePier
// instances over mDNS (with forged seals, and under the members' own ids), claims to hold
// every digest anyone asks about, and serves an HTTP "peer API" whose answers are lies
// (its own manifest for any tag) or stalls (blobs). Every HTTP request it receives is printed
// as a JSON line, so the test can prove no member ever asked it anything.
import { createServer } from 'node:http';
import { randomBytes } from 'node:crypto';
import makeMdns from 'multicast-dns';

interface HostileConfig {
  readonly address: string;
  readonly port: number;
  readonly sybils: number;
  /** Ids of real members to impersonate as well. */
  readonly impersonate: readonly string[];
  /** How many announcement rounds (one a second) before it goes quiet. */
  readonly rounds: number;
}

const config = JSON.parse(process.argv[2] ?? '{}') as HostileConfig;
const SERVICE = '_edgepier._tcp.local';
const say = (event: string, detail: Record<string, unknown> = {}): void => void process.stdout.write(`${JSON.stringify({ event, ...detail })}\n`);

const fakeManifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: `sha256:${'0'.repeat(64)}`, size: 2 }, layers: [] }));
const server = createServer((request, response) => {
  say('request', { method: request.method, url: request.url, headers: request.headers });
  if (request.url?.includes('/manifests/')) {
    response.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json', 'x-edgepier-resolved-at': '99999999999999' });
    response.end(fakeManifest);
    return;
  }
  // Blobs: headers, then silence (a stall costs an honest node its timeout, if it ever asks).
  response.writeHead(200, { 'content-length': String(1024 * 1024) });
  response.write(randomBytes(1));
});
server.listen(config.port, '0.0.0.0');

const ids = [...Array.from({ length: config.sybils }, (_, n) => `sybil-${n}`), ...config.impersonate];
const mdns = makeMdns({ interface: config.address, bind: '0.0.0.0', reuseAddr: true });

function instanceRecords(id: string): makeMdns.ResponsePacket['answers'] {
  const instance = `edgepier-${id}.${SERVICE}`;
  const host = `ep-${id}.local`;
  return [
    { name: SERVICE, type: 'PTR', ttl: 120, data: instance },
    { name: instance, type: 'SRV', ttl: 120, data: { port: config.port, target: host, priority: 0, weight: 0 } },
    // A seal of the right shape that no key made.
    { name: instance, type: 'TXT', ttl: 120, data: [`id=${id}`, 'v=1', `a=${config.address}`, `mac=${randomBytes(16).toString('base64url')}`] },
    { name: host, type: 'A', ttl: 120, data: config.address },
  ];
}

// Every blob question is answered: "I hold it" (as a sybil and as each impersonated member).
mdns.on('query', (packet) => {
  for (const question of packet.questions ?? []) {
    if (!question.name.endsWith('._edgepier-blob.local')) continue;
    for (const id of ['sybil-0', ...config.impersonate]) {
      mdns.respond({
        answers: [
          { name: question.name, type: 'SRV', ttl: 10, data: { port: config.port, target: `ep-${id}.local`, priority: 0, weight: 0 } },
          { name: question.name, type: 'TXT', ttl: 10, data: [`id=${id}`, 'v=1'] },
        ],
      });
    }
    say('claimed', { name: question.name });
  }
});

let round = 0;
const timer = setInterval(() => {
  round += 1;
  // Four instances per packet keeps each packet under the MTU.
  for (let at = 0; at < ids.length; at += 4) mdns.respond({ answers: ids.slice(at, at + 4).flatMap((id) => instanceRecords(id)) });
  if (round === 1) say('announced', { instances: ids.length });
  if (round >= config.rounds) clearInterval(timer);
}, 1000);

process.on('SIGTERM', () => {
  clearInterval(timer);
  mdns.destroy();
  server.close();
  process.exit(0);
});
say('ready', { port: config.port });
