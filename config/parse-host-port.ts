import { isIPv4, isIPv6 } from 'node:net';
import { fail, ok, quote, type Parsed } from './parsed.js';

export interface HostPort {
  /** A host name, IPv4 address, or IPv6 address without brackets (`::`), as `net.listen` wants it. */
  readonly host: string;
  readonly port: number;
}

const HOST_NAME = /^(?=.{1,253}$)[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$/;
const DOTTED_NUMBERS = /^[0-9.]+$/;

export interface HostPortOptions {
  /** Port 0 asks the OS for a free port: right for a listen address, wrong for a peer. */
  readonly allowPortZero: boolean;
}

/** `HOST:PORT` with a host name, IPv4 address or bracketed IPv6 address (`[::]:5000`). */
export function parseHostPort(text: string, options: HostPortOptions): Parsed<HostPort> {
  const trimmed = text.trim();
  let host: string;
  let portText: string;
  if (trimmed.startsWith('[')) {
    const match = /^\[([^\]]*)\]:(.*)$/.exec(trimmed);
    if (match === null) return fail(`${quote(text)} is not [IPv6]:PORT (example: [::]:5000)`);
    host = match[1] ?? '';
    portText = match[2] ?? '';
    if (!isIPv6(host)) return fail(`${quote(text)}: ${quote(host)} is not an IPv6 address`);
  } else {
    const colon = trimmed.lastIndexOf(':');
    if (colon < 0) return fail(`${quote(text)} is not HOST:PORT (example: 0.0.0.0:5000)`);
    host = trimmed.slice(0, colon);
    portText = trimmed.slice(colon + 1);
    if (host === '') return fail(`${quote(text)} has no host (example: 0.0.0.0:5000 or [::]:5000)`);
    if (host.includes(':')) return fail(`${quote(text)}: put an IPv6 address in brackets (example: [::1]:5000)`);
    const validHost = DOTTED_NUMBERS.test(host) ? isIPv4(host) : HOST_NAME.test(host);
    if (!validHost) return fail(`${quote(text)}: ${quote(host)} is not a host name or IP address`);
  }
  if (!/^\d{1,5}$/.test(portText)) return fail(`${quote(text)}: ${quote(portText)} is not a port number`);
  const port = Number(portText);
  const minPort = options.allowPortZero ? 0 : 1;
  if (port < minPort || port > 65535) return fail(`${quote(text)}: port must be ${minPort}-65535`);
  return ok({ host: host.toLowerCase(), port });
}

export function formatHostPort({ host, port }: HostPort): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
