/**
 * Runs inside a network namespace (`ip netns exec NS node --import tsx <this file> '<json>'`)
 * and is driven over stdin/stdout with JSON lines:
 *   request  {"id":1,"op":"find","digest":"sha256:…","timeoutMs":1000}
 *   response {"id":1,"ok":true,"result":…} | {"id":1,"ok":false,"error":"…"}
 *   event    {"event":"peer-up","peer":{"id":…,"url":…},"at":<ms epoch>}
 * Modes: "node" runs an MdnsDiscovery; "sniffer" joins the mDNS group without answering
 * and measures every packet on the LAN (and can send malformed ones).
 */
import { createSocket } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import { pino } from 'pino';
import { MdnsDiscovery } from '../../discovery/mdns-discovery.js';

type Config =
  | { mode: 'node'; nodeId: string; port: number; interfaceAddress?: string; ttlSeconds?: number }
  | { mode: 'sniffer'; address: string };

type Request = Record<string, unknown> & { id: number; op: string };

const config = JSON.parse(process.argv[2] ?? '{}') as Config;
const MDNS_GROUP = '224.0.0.251';
const MDNS_PORT = 5353;

function send(message: unknown): void {
  process.stdout.write(`${JSON.stringify(message)}\n`);
}

function strings(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : [];
}

function handlerFor(cfg: Config): (request: Request) => Promise<unknown> {
  if (cfg.mode === 'sniffer') return sniffer(cfg.address);
  // Logs go to stderr: stdout carries the protocol.
  const logger = pino({ level: process.env.EDGEPIER_TEST_LOG ?? 'warn' }, pino.destination(2));
  const discovery = new MdnsDiscovery({
    nodeId: cfg.nodeId,
    port: cfg.port,
    logger,
    ...(cfg.interfaceAddress === undefined ? {} : { interfaceAddress: cfg.interfaceAddress }),
    ...(cfg.ttlSeconds === undefined ? {} : { ttlSeconds: cfg.ttlSeconds }),
  });
  discovery.on('peer-up', (peer) => send({ event: 'peer-up', peer, at: Date.now() }));
  discovery.on('peer-down', (peer) => send({ event: 'peer-down', peer, at: Date.now() }));

  const find = async (digest: string, timeoutMs: number, firstAnswerOnly: boolean) => {
    const started = performance.now();
    const peers = await discovery.findHolders(digest, { timeoutMs, firstAnswerOnly });
    return { digest, peers, elapsedMs: performance.now() - started };
  };

  return async (request) => {
    switch (request.op) {
      case 'start':
        return discovery.start();
      case 'close': {
        const started = performance.now();
        await discovery.close();
        return { elapsedMs: performance.now() - started };
      }
      case 'peers':
        return discovery.peers();
      case 'advertise':
        for (const digest of strings(request.digests)) discovery.advertise(digest);
        return null;
      case 'withdraw':
        for (const digest of strings(request.digests)) discovery.withdraw(digest);
        return null;
      case 'find':
        return find(String(request.digest), Number(request.timeoutMs), request.firstAnswerOnly === true);
      case 'findMany': {
        // Concurrent lookups in bounded batches, so a 200-digest check is not 200 round trips.
        const digests = strings(request.digests);
        const concurrency = Math.max(1, Number(request.concurrency ?? 20));
        const results = [];
        for (let at = 0; at < digests.length; at += concurrency) {
          const batch = digests.slice(at, at + concurrency);
          results.push(...(await Promise.all(batch.map((d) => find(d, Number(request.timeoutMs), request.firstAnswerOnly === true)))));
        }
        return results;
      }
      default:
        throw new Error(`unknown op ${request.op}`);
    }
  };
}

/** Listens to every mDNS packet on the LAN; measures sizes; sends malformed packets on demand. */
function sniffer(address: string): (request: Request) => Promise<unknown> {
  const socket = createSocket({ type: 'udp4', reuseAddr: true });
  let packets = 0;
  let maxPayload = 0;
  let largest = '';
  const ready = new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(MDNS_PORT, '0.0.0.0', () => {
      socket.addMembership(MDNS_GROUP, address);
      socket.setMulticastInterface(address);
      resolve();
    });
  });
  socket.on('message', (message, rinfo) => {
    // Our own malformed packets loop back: they are not the nodes' traffic.
    if (rinfo.address === address) return;
    packets += 1;
    if (message.length > maxPayload) {
      maxPayload = message.length;
      largest = `${rinfo.address} ${message.subarray(0, 64).toString('latin1').replace(/[^\x20-\x7e]/g, '.')}`;
    }
  });
  return async (request) => {
    await ready;
    switch (request.op) {
      case 'stats':
        // IPv4 header (20) + UDP header (8) on top of the DNS payload: the size the MTU sees.
        return { packets, maxPayloadBytes: maxPayload, maxIpPacketBytes: maxPayload + 28, largest };
      case 'reset':
        packets = 0;
        maxPayload = 0;
        largest = '';
        return null;
      case 'garbage': {
        const sent = malformedPackets(Number(request.count ?? 50));
        for (const packet of sent) {
          await new Promise<void>((resolve) => socket.send(packet, MDNS_PORT, MDNS_GROUP, () => resolve()));
        }
        return { sent: sent.length };
      }
      case 'close':
        socket.close();
        return null;
      default:
        throw new Error(`unknown op ${request.op}`);
    }
  };
}

function encodeName(name: string): Buffer {
  return Buffer.concat([...name.split('.').map((label) => Buffer.concat([Buffer.from([label.length]), Buffer.from(label)])), Buffer.from([0])]);
}

function header(flags: number, qd: number, an: number): Buffer {
  const buffer = Buffer.alloc(12);
  buffer.writeUInt16BE(flags, 2);
  buffer.writeUInt16BE(qd, 4);
  buffer.writeUInt16BE(an, 6);
  return buffer;
}

function record(name: string, type: number, ttl: number, rdata: Buffer, claimedLength = rdata.length): Buffer {
  const fixed = Buffer.alloc(10);
  fixed.writeUInt16BE(type, 0);
  fixed.writeUInt16BE(1, 2);
  fixed.writeUInt32BE(ttl, 4);
  fixed.writeUInt16BE(claimedLength, 8);
  return Buffer.concat([encodeName(name), fixed, rdata]);
}

/** Hand-made hostile input: decode errors, and packets that decode but carry nonsense. */
function malformedPackets(randomCount: number): Buffer[] {
  const response = 0x8400;
  const instance = 'evil._edgepier._tcp.local';
  const blob = `${'a'.repeat(52)}.sha256._edgepier-blob.local`;
  const crafted = [
    header(0, 0xffff, 0), // claims 65,535 questions, has none
    Buffer.concat([header(response, 0, 1), record(instance, 33, 120, Buffer.from([0, 0]), 40)]), // SRV rdata cut short
    Buffer.concat([header(response, 0, 1), record(instance, 33, 120, Buffer.concat([Buffer.from([0, 0, 0, 0, 0, 0]), encodeName('x.local')]))]), // SRV port 0
    Buffer.concat([header(response, 0, 2), record(instance, 16, 120, Buffer.from([200, 1, 2])), record('_edgepier._tcp.local', 12, 120, encodeName(instance))]), // TXT overruns
    Buffer.concat([header(response, 0, 1), record(blob, 33, 120, Buffer.concat([Buffer.from([0, 0, 0, 0, 0x13, 0x88]), encodeName('x.local')]))]), // blob SRV without TXT
    Buffer.concat([header(response, 0, 1), record(instance, 1, 120, Buffer.from([1, 2]))]), // A record of 2 bytes
    Buffer.concat([header(0, 1, 0), Buffer.from([0xc0, 12, 0, 33, 0, 1])]), // name pointing at itself
    Buffer.concat([header(0, 1, 0), encodeName(blob)]), // question without type/class
  ];
  const random = Array.from({ length: randomCount }, () => randomBytes(1 + Math.floor(Math.random() * 600)));
  return [...crafted, ...random];
}

const handle = handlerFor(config);
const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  let request: Request;
  try {
    request = JSON.parse(line) as Request;
  } catch {
    return;
  }
  handle(request).then(
    (result) => send({ id: request.id, ok: true, result: result ?? null }),
    (error: unknown) => send({ id: request.id, ok: false, error: error instanceof Error ? error.message : String(error) }),
  );
});
// The test closing our stdin (or dying) ends this process.
lines.on('close', () => process.exit(0));
