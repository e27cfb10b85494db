// Transparent-mode benchmark: `npm run bench:transparent`.
// What interception costs a cache hit. The built EdgePier CLI runs as its own process with
// --proxy-listen, in front of an HTTPS upstream (in this process; it only serves the first,
// cold fetch). One blob is cached, then fetched in alternating rounds
//   a) from the mirror port (plain HTTP, what containerd's hosts.toml uses), and
//   b) through the proxy: CONNECT, TLS with a leaf from EdgePier's CA, GET (HTTPS_PROXY),
// every body's sha256 checked, and the ratio b/a of throughputs reported per round. Then the
// peak RSS of EdgePier while 8 clients pull the blob through the proxy at once.
// Writes the `## Transparent mode` section of BENCHMARKS.md (unless --no-write).
import { createHash, randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { loadOrCreateCertificateAuthority } from '../transparent/certificate-authority.js';
import { getFreePort, startProcess, waitForHttp } from '../test/support/child-process.js';
import { LoopbackRegistry } from '../test/support/loopback-registry.js';
import { tlsThroughProxy } from '../test/support/proxy-client.js';
import { makeTempDir } from '../test/support/temp-dir.js';
import { table, writeBenchmarkSection } from './benchmarks-file.js';
import { median } from './serve-report.js';
import { RssSampler } from './serve-rss.js';

const MiB = 1024 * 1024;
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CLI = join(ROOT, 'dist', 'cli', 'main.js');
const REPOSITORY = 'bench/transparent';

const { values: flags } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    'blob-mib': { type: 'string', default: '64' },
    fetches: { type: 'string', default: '4' },
    clients: { type: 'string', default: '8' },
    'no-write': { type: 'boolean', default: false },
  },
});
const ROUNDS = Number(flags.rounds);
const BLOB_BYTES = Number(flags['blob-mib']) * MiB;
const FETCHES = Number(flags.fetches);
const CLIENTS = Number(flags.clients);
for (const [name, value] of Object.entries({ ROUNDS, BLOB_BYTES, FETCHES, CLIENTS })) {
  if (!Number.isInteger(value) || value <= 0) throw new Error(`${name} must be a positive integer`);
}

/** Bytes and sha256 of a response body, streamed: nothing is held in memory. */
interface Fetched {
  readonly bytes: number;
  readonly digest: string;
  readonly ms: number;
}

function drain(response: IncomingMessage, started: number): Promise<Fetched> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    let bytes = 0;
    response.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      hash.update(chunk);
    });
    response.once('end', () => resolve({ bytes, digest: `sha256:${hash.digest('hex')}`, ms: performance.now() - started }));
    response.once('error', reject);
  });
}

function fetchFromMirror(mirrorPort: number, path: string): Promise<Fetched> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const outgoing = httpRequest({ host: '127.0.0.1', port: mirrorPort, path, agent: false, timeout: 60_000 }, (response) => {
      drain(response, started).then(resolve, reject);
    });
    outgoing.once('timeout', () => outgoing.destroy(new Error('mirror fetch timed out')));
    outgoing.once('error', reject);
    outgoing.end();
  });
}

async function fetchThroughProxy(proxyPort: number, target: string, ca: string, path: string): Promise<Fetched> {
  const started = performance.now();
  const tls = await tlsThroughProxy(proxyPort, target, { ca });
  return new Promise((resolve, reject) => {
    const outgoing = httpRequest(
      { path, headers: { host: target, connection: 'close' }, createConnection: () => tls, timeout: 60_000 },
      (response) => {
        drain(response, started).then(resolve, reject);
      },
    );
    outgoing.once('timeout', () => outgoing.destroy(new Error('proxy fetch timed out')));
    outgoing.once('error', reject);
    outgoing.end();
  });
}

function check(fetched: Fetched, digest: string, what: string): void {
  if (fetched.bytes !== BLOB_BYTES || fetched.digest !== digest) {
    throw new Error(`${what}: got ${fetched.bytes} bytes with ${fetched.digest}, expected ${BLOB_BYTES} with ${digest}`);
  }
}

async function main(): Promise<void> {
  const work = await makeTempDir('bench-transparent');
  const upstreamCa = (await loadOrCreateCertificateAuthority(join(work.path, 'upstream-ca'))).authority;
  const upstreamCaFile = join(work.path, 'upstream-ca.pem');
  await writeFile(upstreamCaFile, upstreamCa.certificatePem);
  const upstream = new LoopbackRegistry();
  const blob = randomBytes(BLOB_BYTES);
  const digest = upstream.addBlob(blob);
  await upstream.start(0, { tls: upstreamCa.serverCredentialsFor('127.0.0.1') });
  const target = new URL(upstream.url).host;
  const mirrorPort = await getFreePort();
  const proxyPort = await getFreePort();
  const caDir = join(work.path, 'edgepier-ca');
  const edgepier = startProcess(process.execPath, [
    CLI, 'serve',
    '--listen', `127.0.0.1:${mirrorPort}`, '--peer-listen', '127.0.0.1:0',
    '--proxy-listen', `127.0.0.1:${proxyPort}`,
    '--cache-dir', join(work.path, 'cache'),
    '--ca-dir', caDir,
    '--upstream', upstream.url,
    '--upstream-ca-file', upstreamCaFile,
    '--no-mdns',
    '--log-level', 'warn',
  ]);
  const path = `/v2/${REPOSITORY}/blobs/${digest}`;
  try {
    await waitForHttp(`http://127.0.0.1:${mirrorPort}/readyz`, { deadlineMs: 30_000 });
    const ca = (await loadOrCreateCertificateAuthority(caDir)).authority.certificatePem;
    check(await fetchFromMirror(mirrorPort, path), digest, 'cold fetch');

    const rows: string[][] = [];
    const ratios: number[] = [];
    for (let round = 1; round <= ROUNDS; round += 1) {
      const mirrorMs: number[] = [];
      const proxyMs: number[] = [];
      // Alternating within a round, so drift on a shared machine hits both alike.
      for (let fetch = 0; fetch < FETCHES; fetch += 1) {
        const viaMirror = await fetchFromMirror(mirrorPort, path);
        check(viaMirror, digest, 'mirror port');
        mirrorMs.push(viaMirror.ms);
        const viaProxy = await fetchThroughProxy(proxyPort, target, ca, path);
        check(viaProxy, digest, 'transparent proxy');
        proxyMs.push(viaProxy.ms);
      }
      const mirrorRate = BLOB_BYTES / MiB / (median(mirrorMs) / 1000);
      const proxyRate = BLOB_BYTES / MiB / (median(proxyMs) / 1000);
      ratios.push(proxyRate / mirrorRate);
      rows.push([String(round), mirrorRate.toFixed(0), proxyRate.toFixed(0), (proxyRate / mirrorRate).toFixed(2)]);
      console.log(`round ${round}: mirror ${mirrorRate.toFixed(0)} MiB/s, proxy ${proxyRate.toFixed(0)} MiB/s, ratio ${(proxyRate / mirrorRate).toFixed(2)}`);
    }

    const sampler = new RssSampler(edgepier.pid);
    const parallel = await Promise.all(Array.from({ length: CLIENTS }, () => fetchThroughProxy(proxyPort, target, ca, path)));
    const rss = await sampler.stop();
    for (const fetched of parallel) check(fetched, digest, 'parallel proxy client');
    const upstreamGets = upstream.blobGets(digest);

    const report = [
      `Run with \`npm run bench:transparent\` (builds \`dist/\`, then \`node --import tsx bench/transparent.ts\`) on ${new Date().toISOString().slice(0, 10)}.`,
      '',
      `A cached ${BLOB_BYTES / MiB} MiB blob fetched from the mirror port (plain HTTP) and through the`,
      'transparent proxy (CONNECT + TLS terminated by EdgePier), alternating, one client at a time;',
      `median of ${FETCHES} fetches per side per round, MiB/s. Every body's sha256 was checked.`,
      '',
      table(['round', 'mirror port', 'transparent proxy', 'proxy / mirror'], rows),
      '',
      `- median ratio proxy / mirror: ${median(ratios).toFixed(2)} (the cost of TLS in Node for a cache hit)`,
      `- ${CLIENTS} clients at once through the proxy: every body correct; peak RSS of EdgePier over its whole life ` +
        `(VmHWM, the cold fetch included) ${(Math.max(rss.hwm, rss.maxSampled) / MiB).toFixed(0)} MiB; ` +
        `${(rss.first / MiB).toFixed(0)} MiB just before the ${CLIENTS} clients, ${(rss.maxSampled / MiB).toFixed(0)} MiB at most while they pulled`,
      `- upstream blob GETs over the whole run: ${upstreamGets} (only the cold fetch)`,
    ].join('\n');
    console.log(`\n${report}`);
    if (!flags['no-write']) await writeBenchmarkSection(join(ROOT, 'BENCHMARKS.md'), '## Transparent mode', report);
  } finally {
    await edgepier.stop();
    await upstream.stop();
    await work.remove();
  }
}

await main();
