import type { ParameterizedContext } from 'koa';

type PageContext = Pick<ParameterizedContext, 'set' | 'type' | 'body'>;

/** The policy the operator pages (`/`, `/site`) are served with: no scripts, no external anything. */
export const PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/** A JSON snapshot of live state (`/status.json`, `/site.json`): stale a moment later, so never cached. */
export function sendSnapshot(ctx: PageContext, snapshot: unknown): void {
  ctx.set('Cache-Control', 'no-store');
  ctx.body = snapshot;
}

/** An operator page rendered from a snapshot: never cached, and held to PAGE_CSP (names on it come from clients and peers). */
export function sendPage(ctx: PageContext, html: string): void {
  ctx.set('Cache-Control', 'no-store');
  ctx.set('Content-Security-Policy', PAGE_CSP);
  ctx.set('X-Content-Type-Options', 'nosniff');
  ctx.type = 'text/html; charset=utf-8';
  ctx.body = html;
}
