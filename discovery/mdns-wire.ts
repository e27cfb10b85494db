/**
 * The small part of multicast-dns / dns-packet that discovery uses, typed here instead of
 * pulling in @types packages: decoded packets come from the network, so every field is
 * `unknown` until one of the guards below has checked it. A malformed or hostile packet
 * must be dropped, never crash the node.
 */

export interface RemoteInfo {
  readonly address: string;
  readonly port: number;
}

/** A record as dns-packet encodes it (outgoing: we build these ourselves). */
export interface OutgoingRecord {
  name: string;
  type: 'PTR' | 'SRV' | 'TXT' | 'A' | 'AAAA';
  ttl: number;
  data: unknown;
  flush?: boolean;
}

export interface OutgoingPacket {
  questions?: { name: string; type: string }[];
  answers?: OutgoingRecord[];
  additionals?: OutgoingRecord[];
}

/** The multicast-dns instance API, as far as we call it. */
export interface MulticastDns {
  on(event: 'query' | 'response', listener: (packet: unknown, rinfo: RemoteInfo) => void): unknown;
  on(event: 'error' | 'warning', listener: (error: unknown) => void): unknown;
  on(event: 'ready', listener: () => void): unknown;
  removeListener(event: string, listener: (...args: never[]) => void): unknown;
  query(packet: OutgoingPacket, callback?: (error?: unknown) => void): void;
  respond(packet: OutgoingPacket, rinfo?: RemoteInfo, callback?: (error?: unknown) => void): void;
  destroy(callback?: () => void): void;
}

/** A decoded record whose common fields have been checked. */
export interface ParsedRecord {
  readonly name: string; // lower case
  readonly type: string;
  readonly ttl: number;
  readonly data: unknown;
}

export interface ParsedQuestion {
  readonly name: string; // lower case
  readonly type: string;
}

export function isMulticastDns(value: unknown): value is MulticastDns {
  if (typeof value !== 'object' || value === null) return false;
  const candidate = value as Record<string, unknown>;
  return ['on', 'removeListener', 'query', 'respond', 'destroy'].every((key) => typeof candidate[key] === 'function');
}

function field(value: unknown, key: string): unknown {
  return typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[key] : undefined;
}

function list(value: unknown): unknown[] {
  return Array.isArray(value) ? (value as unknown[]) : [];
}

/** Answers and additionals of a decoded response, skipping anything malformed. */
export function responseRecords(packet: unknown): ParsedRecord[] {
  const out: ParsedRecord[] = [];
  for (const raw of [...list(field(packet, 'answers')), ...list(field(packet, 'additionals'))]) {
    const name = field(raw, 'name');
    const type = field(raw, 'type');
    const ttl = field(raw, 'ttl');
    if (typeof name !== 'string' || typeof type !== 'string') continue;
    out.push({ name: name.toLowerCase(), type, ttl: typeof ttl === 'number' && ttl >= 0 ? ttl : 0, data: field(raw, 'data') });
  }
  return out;
}

export function queryQuestions(packet: unknown): ParsedQuestion[] {
  const out: ParsedQuestion[] = [];
  for (const raw of list(field(packet, 'questions'))) {
    const name = field(raw, 'name');
    const type = field(raw, 'type');
    if (typeof name === 'string' && typeof type === 'string') out.push({ name: name.toLowerCase(), type });
  }
  return out;
}

export function srvData(record: ParsedRecord): { port: number; target: string } | undefined {
  const port = field(record.data, 'port');
  const target = field(record.data, 'target');
  if (typeof port !== 'number' || !Number.isInteger(port) || port <= 0 || port > 65535) return undefined;
  if (typeof target !== 'string' || target.length === 0) return undefined;
  return { port, target: target.toLowerCase() };
}

/** TXT strings `key=value` as a map (dns-packet decodes TXT data as an array of Buffers). */
export function txtData(record: ParsedRecord): Map<string, string> {
  const out = new Map<string, string>();
  const items = Array.isArray(record.data) ? (record.data as unknown[]) : [record.data];
  for (const item of items) {
    const text = Buffer.isBuffer(item) ? item.toString('utf8') : typeof item === 'string' ? item : undefined;
    if (text === undefined) continue;
    const eq = text.indexOf('=');
    if (eq > 0) out.set(text.slice(0, eq).toLowerCase(), text.slice(eq + 1));
  }
  return out;
}

export function addressData(record: ParsedRecord): string | undefined {
  return typeof record.data === 'string' && record.data.length > 0 ? record.data : undefined;
}
