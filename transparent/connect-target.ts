import { isIPv4, isIPv6 } from 'node:net';

/** Where a CONNECT asks to go. IPv6 hosts are kept without brackets, as `net.connect` wants them. */
export interface ConnectTarget {
  readonly host: string;
  readonly port: number;
}

const LABEL = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/;

/**
 * A CONNECT request target is authority-form only (RFC 9110 §9.3.6): `host:port`, the port
 * required. Anything else (a path, a scheme, user info, a missing or out-of-range port) is
 * refused before any connection is opened, so the proxy never dials a half-parsed address.
 */
export function parseConnectTarget(text: string): ConnectTarget | { readonly problem: string } {
  if (text.length === 0 || text.length > 262) return { problem: 'CONNECT needs a host:port target' };
  let host: string;
  let portText: string;
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    host = text.slice(1, close);
    if (close < 0 || !isIPv6(host) || text[close + 1] !== ':') return { problem: 'CONNECT target is not [IPv6]:port' };
    portText = text.slice(close + 2);
  } else {
    const colon = text.lastIndexOf(':');
    if (colon <= 0) return { problem: 'CONNECT target needs a port (host:port)' };
    host = text.slice(0, colon).toLowerCase();
    portText = text.slice(colon + 1);
    if (!isHostName(host)) return { problem: 'CONNECT target host is not a host name or IPv4 address' };
  }
  if (!/^[0-9]{1,5}$/.test(portText)) return { problem: 'CONNECT target port is not a number' };
  const port = Number(portText);
  if (port < 1 || port > 65535) return { problem: 'CONNECT target port must be 1-65535' };
  return { host, port };
}

function isHostName(host: string): boolean {
  if (/^[0-9.]+$/.test(host)) return isIPv4(host);
  const name = host.endsWith('.') ? host.slice(0, -1) : host;
  return name.length > 0 && name.length <= 253 && name.split('.').every((label) => LABEL.test(label));
}

/** `host:port` as it appears in URLs and logs (IPv6 in brackets). */
export function formatConnectTarget({ host, port }: ConnectTarget): string {
  return `${isIPv6(host) ? `[${host}]` : host}:${port}`;
}
