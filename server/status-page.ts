import type { ContentSource } from '../mirror/mirror-results.js';
import { CONTENT_SOURCES } from './metrics-served-request.js';
import { formatBytes, formatDuration, formatRatio, shortDigest } from './status-format.js';
import type { StatusSnapshot } from './status-snapshot.js';

/** Every piece of text that reaches the page goes through here: names come from clients and peers. */
export function escapeHtml(value: string | number): string {
  return String(value).replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
}

const STYLE = `
body{font:14px/1.4 system-ui,sans-serif;margin:1.5rem;color:#1b1f24;background:#fafafa}
h1{font-size:1.4rem;margin:0 0 .2rem}h2{font-size:1.1rem;margin:1.6rem 0 .5rem}
.sub{color:#57606a;margin:0 0 1rem}
.cards{display:flex;flex-wrap:wrap;gap:.8rem}
.card{background:#fff;border:1px solid #d0d7de;border-radius:6px;padding:.6rem .9rem;min-width:9rem}
.card b{display:block;font-size:1.3rem}
table{border-collapse:collapse;background:#fff;border:1px solid #d0d7de;width:100%}
th,td{text-align:left;padding:.3rem .6rem;border-bottom:1px solid #eaeef2;white-space:nowrap}
td.num,th.num{text-align:right}
.bar{display:flex;height:1.2rem;border-radius:4px;overflow:hidden;border:1px solid #d0d7de;background:#fff}
.bar span{display:block;height:100%}
.src-cache{background:#2da44e}.src-inflight{background:#54aeff}.src-peer{background:#bf8700}.src-upstream{background:#cf222e}
.up{color:#1a7f37}.down{color:#cf222e}
.empty{color:#57606a;font-style:italic}
code{font-size:12px}
`;

function card(label: string, value: string, id: string): string {
  return `<div class="card" id="${id}">${escapeHtml(label)}<b>${escapeHtml(value)}</b></div>`;
}

function sourcesBar(bytes: Readonly<Record<ContentSource, number>>, id: string): string {
  const total = CONTENT_SOURCES.reduce((sum, source) => sum + bytes[source], 0);
  if (total === 0) return `<p class="empty" id="${id}">no bytes served yet</p>`;
  const parts = CONTENT_SOURCES.filter((source) => bytes[source] > 0)
    .map((source) => {
      const share = (bytes[source] / total) * 100;
      return `<span class="src-${source}" style="width:${share.toFixed(2)}%" title="${escapeHtml(`${source}: ${formatBytes(bytes[source])}`)}"></span>`;
    })
    .join('');
  return `<div class="bar" id="${id}">${parts}</div>`;
}

function sourcesTable(snapshot: StatusSnapshot): string {
  const rows = CONTENT_SOURCES.map(
    (source) =>
      `<tr><td><span class="src-${source}">&nbsp;&nbsp;</span> ${escapeHtml(source)}</td>` +
      `<td class="num">${escapeHtml(snapshot.totals.requests[source])}</td>` +
      `<td class="num">${escapeHtml(formatBytes(snapshot.totals.bytes[source]))}</td>` +
      `<td class="num">${escapeHtml(formatBytes(snapshot.recentBytes[source]))}</td></tr>`,
  ).join('');
  return `<table id="sources"><thead><tr><th>source</th><th class="num">requests</th><th class="num">bytes since start</th><th class="num">bytes in recent pulls</th></tr></thead><tbody>${rows}</tbody></table>`;
}

function peersTable(snapshot: StatusSnapshot): string {
  if (snapshot.peers.length === 0) return '<p class="empty" id="peers">no peers seen (yet)</p>';
  const rows = snapshot.peers
    .map(
      (peer) =>
        `<tr><td><code>${escapeHtml(peer.id)}</code></td><td>${escapeHtml(peer.url)}</td>` +
        `<td class="${peer.state}">${escapeHtml(peer.state)}</td><td>${escapeHtml(peer.since)}</td><td class="num">${escapeHtml(peer.upCount)}</td></tr>`,
    )
    .join('');
  return `<table id="peers"><thead><tr><th>peer</th><th>url</th><th>state</th><th>since</th><th class="num">times up</th></tr></thead><tbody>${rows}</tbody></table>`;
}

function pullsTable(snapshot: StatusSnapshot): string {
  if (snapshot.recentPulls.length === 0) return '<p class="empty" id="pulls">no pulls yet</p>';
  const rows = snapshot.recentPulls
    .map((pull) => {
      const what = pull.kind === 'blob' ? shortDigest(pull.reference) : pull.reference;
      const notes = [pull.peer ? `for peer ${pull.peer}` : '', pull.aborted ? 'cut' : '', pull.redirect ? `→ ${pull.redirect}` : ''].filter(Boolean).join(', ');
      return (
        `<tr><td>${escapeHtml(pull.at.slice(11, 19))}</td><td>${escapeHtml(pull.method)}</td><td>${escapeHtml(pull.kind)}</td>` +
        `<td>${escapeHtml(pull.repository)}</td><td><code title="${escapeHtml(pull.digest ?? pull.reference)}">${escapeHtml(what)}</code></td>` +
        `<td>${escapeHtml(pull.source ?? '—')}</td>` +
        `<td class="num">${escapeHtml(formatBytes(pull.bytes))}</td><td class="num">${escapeHtml(pull.status)}</td>` +
        `<td class="num">${escapeHtml(pull.ms)} ms</td><td>${escapeHtml(notes)}</td></tr>`
      );
    })
    .join('');
  return (
    '<table id="pulls"><thead><tr><th>time (UTC)</th><th>method</th><th>kind</th><th>repository</th><th>reference</th>' +
    `<th>source</th><th class="num">bytes</th><th class="num">status</th><th class="num">time</th><th>notes</th></tr></thead><tbody>${rows}</tbody></table>`
  );
}

/** The status page: plain server-rendered HTML, no scripts, refreshed by the browser every 5 s. */
export function renderStatusPage(snapshot: StatusSnapshot): string {
  const { cache } = snapshot;
  const budget = cache.budgetBytes === null ? 'unlimited' : formatBytes(cache.budgetBytes);
  const used = `${formatBytes(cache.usedBytes)} / ${budget}`;
  const meter =
    cache.budgetBytes === null
      ? ''
      : `<p><meter id="cache-meter" min="0" max="1" low="0.8" high="0.95" value="${escapeHtml((cache.usedShare ?? 0).toFixed(4))}"></meter> ${escapeHtml(formatRatio(cache.usedShare))} of the budget</p>`;
  const upPeers = snapshot.peers.filter((peer) => peer.state === 'up').length;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta http-equiv="refresh" content="5"><title>EdgePier · ${escapeHtml(snapshot.node.id)}</title><style>${STYLE}</style></head>
<body>
<h1>EdgePier node <code id="node-id">${escapeHtml(snapshot.node.id)}</code></h1>
<p class="sub">up ${escapeHtml(formatDuration(snapshot.node.uptimeSeconds))} · started ${escapeHtml(snapshot.node.startedAt)} · <a href="/site">the site</a> · <a href="/status.json">status.json</a> · <a href="/metrics">metrics</a></p>
<div class="cards">
${card('cache used', used, 'cache-used')}
${card('blobs cached', String(cache.blobs), 'cache-blobs')}
${card('hit ratio', formatRatio(cache.hitRatio), 'hit-ratio')}
${card('peers up', String(upPeers), 'peers-up')}
${card('downloads in flight', String(snapshot.inflightDownloads), 'inflight')}
${card('upstream errors', `${snapshot.upstream.errors} / ${snapshot.upstream.requests}`, 'upstream-errors')}
${card('evictions', String(cache.evictions), 'evictions')}
</div>
${meter}
<h2>Where the bytes came from</h2>
${sourcesBar(snapshot.recentBytes, 'recent-bar')}
${sourcesTable(snapshot)}
<h2>Peers</h2>
${peersTable(snapshot)}
<h2>Recent pulls</h2>
${pullsTable(snapshot)}
</body></html>
`;
}
