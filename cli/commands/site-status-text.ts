import { formatBytes, formatDuration } from '../../server/status-format.js';
import type { SiteSnapshot } from '../../server/site-view.js';

const BAR_WIDTH = 30;

/** C0 and C1 control characters: a member's name holding them could drive the terminal. */
function clean(text: string | number): string {
  return [...String(text)].map((char) => (char.charCodeAt(0) < 0x20 || (char.charCodeAt(0) >= 0x7f && char.charCodeAt(0) <= 0x9f) ? '?' : char)).join('');
}

function columns(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('  ')).join('\n');
}

/** `[#########+++.......]`: held, arriving, missing. */
export function textBar(held: number, arriving: number, total: number): string {
  const cells = (bytes: number): number => (total === 0 ? 0 : Math.round((Math.min(bytes, total) / total) * BAR_WIDTH));
  const heldCells = cells(held);
  const arrivingCells = Math.min(BAR_WIDTH - heldCells, cells(arriving));
  return `[${'#'.repeat(heldCells)}${'+'.repeat(arrivingCells)}${'.'.repeat(BAR_WIDTH - heldCells - arrivingCells)}]`;
}

/** The site view for a terminal: members, then each image with one bar per member. */
export function renderSiteText(site: SiteSnapshot): string {
  const up = site.members.filter((member) => member.state === 'up').length;
  const lines = [`EdgePier site seen from ${clean(site.self)}: ${up} of ${site.members.length} members up`];
  if (site.note) lines.push(`note: ${clean(site.note)}`);
  if (site.notAsked > 0) lines.push(`${site.notAsked} more members not asked`);
  lines.push('');
  lines.push(
    columns([
      ['  member', 'state', 'up', 'cache', 'fetching', 'from upstream', 'from peers', 'site prefetch'],
      ...site.members.map((member) => {
        const s = member.summary;
        const name = `  ${clean(member.id)}${member.self ? ' *' : ''}`;
        if (!s) return [name, member.state, '-', '-', '-', '-', '-', clean(member.problem ?? '')];
        const job = s.prefetches[0];
        return [
          name,
          member.state,
          formatDuration(s.uptimeSeconds),
          `${formatBytes(s.cache.usedBytes)} (${s.cache.blobs})`,
          String(s.downloads.length),
          formatBytes(s.wanBytes),
          formatBytes(s.servedBytes.peer),
          job ? clean(`${job.image} ${job.state} ${job.blobsDone}/${job.blobs}${job.error ? `: ${job.error}` : ''}`) : '',
        ];
      }),
    ]),
  );
  for (const image of site.images) {
    lines.push('', `${clean(image.name)}  ${clean(image.digest)}  (${image.layers} blobs, ${formatBytes(image.bytes)})`);
    lines.push(
      columns(
        site.members.map((member) => {
          const held = image.members[member.id];
          const name = `  ${clean(member.id)}`;
          if (!held) return [name, textBar(0, 0, 1), member.state === 'down' ? 'down' : 'not reported'];
          const share = image.bytes === 0 ? 0 : (held.heldBytes / image.bytes) * 100;
          return [name, textBar(held.heldBytes, held.inflightBytes, image.bytes), `${share.toFixed(0)}% ${held.heldLayers}/${image.layers}${held.inflightBytes > 0 ? ` +${formatBytes(held.inflightBytes)} arriving` : ''}`];
        }),
      ),
    );
  }
  const downloads = site.members.flatMap((member) => (member.summary?.downloads ?? []).map((download) => ({ member: member.id, ...download })));
  lines.push('', `downloads in flight (${downloads.length})`);
  for (const download of downloads) {
    lines.push(
      `  ${clean(download.member)}  ${clean(download.digest)}  ${formatBytes(download.receivedBytes)} / ${download.sizeBytes === null ? '?' : formatBytes(download.sizeBytes)}  from ${clean(download.from)}`,
    );
  }
  return `${lines.join('\n')}\n`;
}
