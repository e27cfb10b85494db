import { isIP } from 'node:net';
import { fail, ok, quote, type Parsed } from './parsed.js';

/** An address block: `198.18.0.0/15`, `10.1.2.3` (one host), `fd00::/8`. */
export interface Cidr {
  readonly network: string;
  readonly prefix: number;
  readonly family: 'ipv4' | 'ipv6';
}

export function parseCidr(text: string): Parsed<Cidr> {
  const trimmed = text.trim();
  const slash = trimmed.indexOf('/');
  const network = slash < 0 ? trimmed : trimmed.slice(0, slash);
  const version = isIP(network);
  if (version === 0) return fail(`${quote(text)} is not an IP address or CIDR block (example: 198.18.0.0/24)`);
  const max = version === 4 ? 32 : 128;
  const prefixText = slash < 0 ? String(max) : trimmed.slice(slash + 1);
  if (!/^\d{1,3}$/.test(prefixText) || Number(prefixText) > max) return fail(`${quote(text)}: prefix must be 0-${max}`);
  return ok({ network: network.toLowerCase(), prefix: Number(prefixText), family: version === 4 ? 'ipv4' : 'ipv6' });
}

export function formatCidr({ network, prefix }: Cidr): string {
  return `${network}/${prefix}`;
}
