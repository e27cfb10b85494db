// What the site key costs on the wire: `npm run bench:peer-tls -- [--mb 512] [--rounds 3] [--no-write]`.
// One 1 MiB-chunked body over loopback, plain HTTP beside the peer API's TLS-PSK (the real
// server options and agent from site/peer-tls.ts), alternating so both see the same machine
// load; CPU is this process's (both ends live here), so it is the cost of both peers.
import { createServer as createHttpServer, get as httpGet, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, get as httpsGet } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { peerHttpsAgent, peerTlsServerOptions, PEER_TLS_CIPHERS } from '../site/peer-tls.js';
import { SiteKey } from '../site/site-key.js';
import { table, writeBenchmarkSection } from './benchmarks-file.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const { values: flags } = parseArgs({
  options: { mb: { type: 'string', default: '512' }, rounds: { type: 'string', default: '3' }, 'no-write': { type: 'boolean', default: false } },
});
const MB = Number(flags.mb);
const ROUNDS = Number(flags.rounds);
if (!Number.isInteger(MB) || MB < 1 || MB > 4096 || !Number.isInteger(ROUNDS) || ROUNDS < 1 || ROUNDS > 20) throw new Error('--mb 1..4096, --rounds 1..20');
const CHUNK = Buffer.alloc(1 << 20, 0x5a);

interface Sample {
  readonly seconds: number;
  readonly cpuSeconds: number;
}

function send(_request: IncomingMessage, response: ServerResponse): void {
  let sent = 0;
  const more = (): void => {
    while (sent < MB) {
      sent += 1;
      if (!response.write(CHUNK)) {
        response.once('drain', more);
        return;
      }
    }
    response.end();
  };
  more();
}

async function measure(secure: boolean): Promise<Sample> {
  const key = new SiteKey(Buffer.alloc(32, 1));
  const server = secure ? createHttpsServer(peerTlsServerOptions(key), send) : createHttpServer(send);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const agent = secure ? peerHttpsAgent(key, 'bench') : undefined;
  const cpu = process.cpuUsage();
  const started = performance.now();
  let received = 0;
  await new Promise<void>((resolve, reject) => {
    const request = (secure ? httpsGet : httpGet)({ host: '127.0.0.1', port, ...(agent ? { agent } : {}) }, (response) => {
      response.on('data', (chunk: Buffer) => (received += chunk.length));
      response.on('end', resolve);
      response.on('error', reject);
    });
    request.on('error', reject);
  });
  const seconds = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  agent?.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (received !== MB * CHUNK.length) throw new Error(`received ${received} bytes, expected ${MB * CHUNK.length}`);
  return { seconds, cpuSeconds: (used.user + used.system) / 1e6 };
}

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;

async function main(): Promise<void> {
  const plain: Sample[] = [];
  const tls: Sample[] = [];
  for (let round = 0; round < ROUNDS; round += 1) {
    plain.push(await measure(false));
    tls.push(await measure(true));
  }
  const rate = (samples: Sample[]): number => MB / median(samples.map((sample) => sample.seconds));
  const cpuPerMb = (samples: Sample[]): number => (1000 * median(samples.map((sample) => sample.cpuSeconds))) / MB;
  const rows = [
    ['plain HTTP', rate(plain).toFixed(0), cpuPerMb(plain).toFixed(2), '1.00'],
    [`TLS-PSK (${PEER_TLS_CIPHERS})`, rate(tls).toFixed(0), cpuPerMb(tls).toFixed(2), (cpuPerMb(tls) / cpuPerMb(plain)).toFixed(2)],
  ];
  const extra = cpuPerMb(tls) - cpuPerMb(plain);
  const command = `npm run bench:peer-tls -- --mb ${MB} --rounds ${ROUNDS}`;
  const report = [
    `Measured ${new Date().toISOString().slice(0, 10)} by \`bench/peer-tls.ts\`. Command: \`${command}\``,
    '',
    `One ${MB} MiB body over loopback, plain and TLS-PSK alternating, ${ROUNDS} rounds, medians. CPU is both ends (one process).`,
    '',
    table(['peer transport', 'MiB/s (one stream)', 'CPU ms per MiB (both ends)', 'CPU ÷ plain'], rows),
    '',
    `The site key costs ${extra.toFixed(2)} ms of CPU per MiB moved between two members, about ${(extra / 2).toFixed(2)} ms on each:` +
      ` at 100 Mbit/s (12 MiB/s) that is ${((extra / 2) * 12 / 10).toFixed(1)}% of a core per node, at 1 Gbit/s ${((extra / 2) * 119 / 10).toFixed(0)}%.`,
  ].join('\n');
  console.log(`\n${report}\n`);
  if (flags['no-write'] !== true) await writeBenchmarkSection(join(ROOT, 'BENCHMARKS.md'), '## Peer TLS (site key)', report);
}

await main();
