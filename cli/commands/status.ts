import { formatBytes, formatDuration, formatRatio, shortDigest } from '../../server/status-format.js';
import type { StatusSnapshot } from '../../server/status-snapshot.js';

const DEFAULT_URL = 'http://127.0.0.1:5000';
const SOURCES = ['cache', 'inflight', 'peer', 'upstream'] as const;

export const STATUS_USAGE = `usage: edgepier status [--url URL] [--json]

Shows a running node's peers, cache use, hit ratio and recent pulls (from URL/status.json).
  --url URL   the node to ask (default ${DEFAULT_URL})
  --json      print the raw status JSON`;

export interface StatusCommandIo {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
  readonly fetch?: typeof fetch;
}

/** `edgepier status`: fetches `/status.json` from a node and prints it for a terminal. */
export async function statusCommand(args: readonly string[], io: StatusCommandIo): Promise<number> {
  let url = DEFAULT_URL;
  let json = false;
  for (let i = 0; i < args.length; i += 1) {
    const arg = args[i] ?? '';
    if (arg === '--help' || arg === '-h') {
      io.out(`${STATUS_USAGE}\n`);
      return 0;
    } else if (arg === '--json') {
      json = true;
    } else if (arg === '--url' && args[i + 1] !== undefined) {
      url = args[i + 1] ?? url;
      i += 1;
    } else if (arg.startsWith('--url=')) {
      url = arg.slice('--url='.length);
    } else {
      io.err(`edgepier status: unexpected argument '${arg}'\n${STATUS_USAGE}\n`);
      return 2;
    }
  }
  let endpoint: URL;
  try {
    endpoint = new URL('/status.json', url);
  } catch {
    io.err(`edgepier status: '${url}' is not a URL\n`);
    return 2;
  }
  let body: string;
  try {
    const response = await (io.fetch ?? fetch)(endpoint, { signal: AbortSignal.timeout(5_000) });
    body = await response.text();
    if (!response.ok) {
      io.err(`edgepier status: ${endpoint.href} answered ${response.status}\n`);
      return 1;
    }
  } catch (error) {
    io.err(`edgepier status: cannot reach ${endpoint.href}: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
  if (json) {
    io.out(body.endsWith('\n') ? body : `${body}\n`);
    return 0;
  }
  io.out(renderStatusText(JSON.parse(body) as StatusSnapshot));
  return 0;
}

/** C0 and C1 control characters: a name holding them could drive the terminal. */
function isControl(char: string): boolean {
  const code = char.charCodeAt(0);
  return code < 0x20 || (code >= 0x7f && code <= 0x9f);
}

/** Left-aligned columns; the last column is not padded. */
function columns(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('  ')).join('\n');
}

/** A status snapshot as plain text (terminal control characters from names are dropped). */
export function renderStatusText(snapshot: StatusSnapshot): string {
  const clean = (text: string | number): string => [...String(text)].map((char) => (isControl(char) ? '?' : char)).join('');
  const { cache } = snapshot;
  const budget = cache.budgetBytes === null ? 'unlimited' : `${formatBytes(cache.budgetBytes)} (${formatRatio(cache.usedShare)} used)`;
  const lines = [
    `EdgePier node ${clean(snapshot.node.id)}, up ${formatDuration(snapshot.node.uptimeSeconds)}`,
    `cache      ${formatBytes(cache.usedBytes)} in ${cache.blobs} blobs, budget ${budget}, ${cache.evictions} evicted`,
    `hit ratio  ${formatRatio(cache.hitRatio)} of blob GETs from cache`,
    `in flight  ${snapshot.inflightDownloads} downloads; upstream ${snapshot.upstream.requests} requests, ${snapshot.upstream.errors} errors`,
    `bytes      ${SOURCES.map((source) => `${source} ${formatBytes(snapshot.totals.bytes[source])}`).join(', ')} (since start)`,
    '',
    `peers (${snapshot.peers.filter((peer) => peer.state === 'up').length} up)`,
  ];
  if (snapshot.peers.length === 0) lines.push('  none seen');
  else lines.push(columns(snapshot.peers.map((peer) => ['  ' + clean(peer.id), clean(peer.url), peer.state, `since ${clean(peer.since)}`])));
  lines.push('', `recent pulls (${snapshot.recentPulls.length})`);
  if (snapshot.recentPulls.length === 0) lines.push('  none yet');
  else {
    lines.push(
      columns([
        ['  time', 'method', 'repository', 'reference', 'source', 'bytes', 'status'],
        ...snapshot.recentPulls.map((pull) => [
          '  ' + clean(pull.at.slice(11, 19)),
          clean(pull.method),
          clean(pull.repository),
          clean(pull.kind === 'blob' ? shortDigest(pull.reference) : pull.reference),
          clean(pull.source ?? '-') + (pull.peer ? ` (for ${clean(pull.peer)})` : ''),
          formatBytes(pull.bytes),
          String(pull.status) + (pull.aborted ? ' cut' : ''),
        ]),
      ]),
    );
  }
  return `${lines.join('\n')}\n`;
}
