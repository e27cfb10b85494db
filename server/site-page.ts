import { escapeHtml } from './status-page.js';
import { formatBytes, formatDuration, shortDigest } from './status-format.js';
import type { SiteImage, SiteMember, SiteSnapshot } from './site-view.js';

const STYLE = `
body{font:14px/1.4 system-ui,sans-serif;margin:1.5rem;color:#1b1f24;background:#fafafa;max-width:1240px}
h1{font-size:1.4rem;margin:0 0 .2rem}h2{font-size:1.1rem;margin:1.6rem 0 .5rem}h3{font-size:1rem;margin:1rem 0 .3rem}
.sub{color:#57606a;margin:0 0 1rem}
.note{background:#fff8c5;border:1px solid #d4a72c;border-radius:6px;padding:.5rem .8rem}
table{border-collapse:collapse;background:#fff;border:1px solid #d0d7de;width:100%;table-layout:auto}
th,td{text-align:left;padding:.3rem .5rem;border-bottom:1px solid #eaeef2;white-space:nowrap}
td.num,th.num{text-align:right}
.up{color:#1a7f37}.down{color:#cf222e}
.empty{color:#57606a;font-style:italic}
.why{color:#57606a;white-space:normal;font-size:12px}
input.digest{font:12px ui-monospace,monospace;border:1px solid transparent;background:transparent;width:13.5em;padding:0;color:inherit}
input.digest:focus{border-color:#54aeff;background:#fff;width:36em}
.rows{display:grid;grid-template-columns:12rem 1fr 15rem;gap:.25rem .8rem;align-items:center;background:#fff;border:1px solid #d0d7de;border-radius:6px;padding:.5rem .8rem}
.bar{display:flex;height:1rem;border-radius:4px;overflow:hidden;border:1px solid #d0d7de;background:#f6f8fa}
.bar span{display:block;height:100%}
.held{background:#2da44e}.arriving{background:#54aeff}
.legend span{display:inline-block;width:.8rem;height:.8rem;vertical-align:middle;margin:0 .2rem 0 .8rem}
code{font-size:12px}
`;

/** A digest shown short, with the whole value selectable and copyable (no script: the page has none). */
export function digestField(digest: string): string {
  return `<input class="digest" readonly value="${escapeHtml(digest)}" title="${escapeHtml(digest)}" aria-label="digest ${escapeHtml(shortDigest(digest))}" size="71">`;
}

function percent(part: number, whole: number): number {
  return whole === 0 ? 0 : Math.min(100, (part / whole) * 100);
}

function progressBar(held: number, arriving: number, total: number, id: string): string {
  const heldShare = percent(held, total);
  const arrivingShare = Math.min(100 - heldShare, percent(arriving, total));
  return (
    `<div class="bar" id="${escapeHtml(id)}" role="img" aria-label="${escapeHtml(`${heldShare.toFixed(0)}% held`)}">` +
    `<span class="held" style="width:${heldShare.toFixed(2)}%"></span><span class="arriving" style="width:${arrivingShare.toFixed(2)}%"></span></div>`
  );
}

function imageBlock(image: SiteImage, members: readonly SiteMember[], index: number): string {
  const rows = members
    .map((member) => {
      const held = image.members[member.id];
      const label = `<div><code>${escapeHtml(member.id)}</code>${member.self ? ' (this node)' : ''}</div>`;
      if (!held) {
        const why = member.state === 'down' ? 'down' : 'not reported';
        return `${label}<div class="bar"></div><div class="empty">${escapeHtml(why)}</div>`;
      }
      const share = percent(held.heldBytes, image.bytes);
      const text = `${share.toFixed(0)}% · ${held.heldLayers}/${image.layers} · ${formatBytes(held.heldBytes)}` + (held.inflightBytes > 0 ? ` +${formatBytes(held.inflightBytes)}` : '');
      return `${label}${progressBar(held.heldBytes, held.inflightBytes, image.bytes, `progress-${index}-${member.id}`)}<div>${escapeHtml(text)}</div>`;
    })
    .join('');
  return (
    `<section class="image" id="image-${index}"><h3>${escapeHtml(image.name)} ${digestField(image.digest)}</h3>` +
    `<p class="sub">${image.layers} blobs, ${escapeHtml(formatBytes(image.bytes))}</p><div class="rows">${rows}</div></section>`
  );
}

function membersTable(snapshot: SiteSnapshot): string {
  const rows = snapshot.members
    .map((member) => {
      const s = member.summary;
      const prefetch = s?.prefetches[0];
      const prefetchText = prefetch ? `${prefetch.image}: ${prefetch.state} ${prefetch.blobsDone}/${prefetch.blobs}${prefetch.error ? ` (${prefetch.error})` : ''}` : '';
      const cells = s
        ? `<td class="num">${escapeHtml(formatDuration(s.uptimeSeconds))}</td><td class="num">${escapeHtml(formatBytes(s.cache.usedBytes))}</td>` +
          `<td class="num">${s.cache.blobs}</td><td class="num">${s.downloads.length}</td>` +
          `<td class="num">${escapeHtml(formatBytes(s.wanBytes))}</td><td class="num">${escapeHtml(formatBytes(s.servedBytes.peer))}</td>` +
          `<td class="num">${escapeHtml(formatBytes(s.servedBytes.cache + s.servedBytes.inflight))}</td><td class="why">${escapeHtml(prefetchText)}</td>`
        : `<td colspan="8" class="why">${escapeHtml(member.problem ?? (snapshot.keyed ? '' : 'open site: no summary'))}</td>`;
      return `<tr id="member-${escapeHtml(member.id)}"><td><code>${escapeHtml(member.id)}</code>${member.self ? ' (this node)' : ''}</td><td class="${member.state}">${member.state}</td>${cells}</tr>`;
    })
    .join('');
  return (
    '<table id="members"><thead><tr><th>member</th><th>state</th><th class="num">up</th><th class="num">cache</th><th class="num">blobs</th>' +
    '<th class="num">fetching</th><th class="num">from upstream</th><th class="num">from peers</th><th class="num">from cache</th><th>site prefetch</th></tr></thead>' +
    `<tbody>${rows}</tbody></table>`
  );
}

function downloadsTable(snapshot: SiteSnapshot): string {
  const rows = snapshot.members.flatMap((member) =>
    (member.summary?.downloads ?? []).map(
      (download) =>
        `<tr><td><code>${escapeHtml(member.id)}</code></td><td>${digestField(download.digest)}</td><td>${escapeHtml(download.from)}</td>` +
        `<td style="width:30%">${progressBar(0, download.receivedBytes, download.sizeBytes ?? download.receivedBytes, `download-${member.id}-${download.digest.slice(7, 19)}`)}</td>` +
        `<td class="num">${escapeHtml(formatBytes(download.receivedBytes))} / ${download.sizeBytes === null ? '?' : escapeHtml(formatBytes(download.sizeBytes))}</td></tr>`,
    ),
  );
  if (rows.length === 0) return '<p class="empty" id="downloads">no downloads in flight</p>';
  return `<table id="downloads"><thead><tr><th>member</th><th>digest</th><th>from</th><th>progress</th><th class="num">received</th></tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

/**
 * The site page: every member, the images being pulled with a bar per member, downloads in
 * flight. The browser reloads it every `refreshSeconds` (0: never), so a rollout moves on screen.
 */
export function renderSitePage(snapshot: SiteSnapshot, refreshSeconds = 2): string {
  const up = snapshot.members.filter((member) => member.state === 'up').length;
  const images =
    snapshot.images.length === 0
      ? '<p class="empty" id="images">no images pulled lately</p>'
      : `<p class="legend"><span class="held"></span>held<span class="arriving"></span>arriving</p>${snapshot.images.map((image, index) => imageBlock(image, snapshot.members, index)).join('')}`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
${refreshSeconds > 0 ? `<meta http-equiv="refresh" content="${refreshSeconds}">` : ''}<title>EdgePier site · ${escapeHtml(snapshot.self)}</title><style>${STYLE}</style></head>
<body>
<h1>EdgePier site: <span id="members-up">${up}</span> of ${snapshot.members.length} members up</h1>
<p class="sub">seen from <code>${escapeHtml(snapshot.self)}</code> at ${escapeHtml(snapshot.gatheredAt)} · <a href="/">this node</a> · <a href="/site.json">site.json</a>${snapshot.notAsked > 0 ? ` · ${snapshot.notAsked} more members not asked` : ''}</p>
${snapshot.note ? `<p class="note" id="open-site">${escapeHtml(snapshot.note)}</p>` : ''}
<h2>Images being pulled</h2>
${images}
<h2>Members</h2>
${membersTable(snapshot)}
<h2>Downloads in flight</h2>
${downloadsTable(snapshot)}
</body></html>
`;
}
