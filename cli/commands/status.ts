import { setTimeout as delay } from 'node:timers/promises';
import { parseDuration } from '../../config/parse-duration.js';
import { formatBytes, formatDuration, formatRatio, shortDigest } from '../../server/status-format.js';
import type { StatusSnapshot } from '../../server/status-snapshot.js';
import { parseCommandArgs, UsageError } from './command-args.js';
import { fetchFromNode } from './node-fetch.js';
import { loadNodeSettings } from './node-settings.js';
import type { SiteSnapshot } from '../../server/site-view.js';
import { renderSiteText } from './site-status-text.js';

const SOURCES = ['cache', 'inflight', 'peer', 'upstream'] as const;

export const STATUS_USAGE = `usage: edgepier status [--url URL] [--json] [serve settings: --config FILE, --listen HOST:PORT, ...]

Shows a running node's peers, cache use, hit ratio and recent pulls (from URL/status.json).
  --url URL   the node to ask (default: this host's node, from the same --listen,
              EDGEPIER_LISTEN or --config as serve)
  --json      print the raw status JSON
  --site      the whole site instead of one node: every member up or down, what each
              holds of the images being pulled, downloads in flight (from URL/site.json;
              a keyed site only: on an open site members do not exchange summaries)
  --wait DURATION  first wait until the node is ready (/readyz), at most DURATION (60s);
              fails if it is not (the systemd unit's readiness check)`;

export interface StatusCommandIo {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
  readonly env?: NodeJS.ProcessEnv;
  readonly fetch?: typeof fetch;
}

/** `edgepier status`: fetches `/status.json` from a node and prints it for a terminal. */
export async function statusCommand(argv: readonly string[], io: StatusCommandIo): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    io.out(`${STATUS_USAGE}\n`);
    return 0;
  }
  let endpoint: URL;
  let json: boolean;
  let site: boolean;
  let waitMs: number | undefined;
  try {
    const args = parseCommandArgs(argv, { values: ['--url', '--wait'], switches: ['--json', '--site'] });
    const wait = args.values.get('--wait');
    if (wait !== undefined) {
      const parsed = parseDuration(wait, { minMs: 1 });
      if (!parsed.ok) throw new UsageError(`--wait ${parsed.errors.join('; ')}`);
      waitMs = parsed.value;
    }
    if (args.positionals.length > 0) throw new UsageError(`unexpected argument '${args.positionals[0] ?? ''}'`);
    json = args.switches.has('--json');
    site = args.switches.has('--site');
    endpoint = new URL(site ? '/site.json' : '/status.json', loadNodeSettings(args, { env: io.env ?? process.env }, { flag: '--url', value: args.values.get('--url') }).url);
  } catch (error) {
    io.err(`edgepier status: ${error instanceof Error ? error.message : String(error)}\n${STATUS_USAGE}\n`);
    return 2;
  }
  if (waitMs !== undefined) {
    const waited = await waitUntilReady(new URL('/readyz', endpoint), waitMs, io.fetch);
    if (waited !== true) {
      io.err(`edgepier status: not ready after ${waitMs} ms: ${waited}\n`);
      return 1;
    }
  }
  let body: string;
  try {
    // The site view waits on members (each bounded by the node's peer timeout, two rounds).
    const response = await fetchFromNode(endpoint, { signal: AbortSignal.timeout(site ? 30_000 : 5_000) }, io.fetch);
    body = await response.text();
    if (!response.ok) {
      io.err(`edgepier status: ${endpoint.href} answered ${response.status}\n`);
      return 1;
    }
  } catch (error) {
    io.err(`edgepier status: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
  if (json) {
    io.out(body.endsWith('\n') ? body : `${body}\n`);
    return 0;
  }
  io.out(site ? renderSiteText(JSON.parse(body) as SiteSnapshot) : renderStatusText(JSON.parse(body) as StatusSnapshot));
  return 0;
}

/** Polls `readyz` until it answers 200 (true) or the deadline passes (the last failure). */
async function waitUntilReady(readyz: URL, waitMs: number, fetcher: typeof fetch | undefined): Promise<true | string> {
  const deadline = Date.now() + waitMs;
  let last = 'no answer yet';
  // Bounded by the deadline; every attempt has its own timeout within it.
  while (Date.now() < deadline) {
    try {
      const response = await fetchFromNode(readyz, { signal: AbortSignal.timeout(Math.max(1, Math.min(2_000, deadline - Date.now()))) }, fetcher);
      await response.arrayBuffer();
      if (response.status === 200) return true;
      last = `${readyz.href} answered ${response.status}`;
    } catch (error) {
      last = error instanceof Error ? error.message : String(error);
    }
    await delay(Math.max(0, Math.min(250, deadline - Date.now())));
  }
  return last;
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
