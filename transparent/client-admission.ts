import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { RegistryError } from '../oci/registry-error.js';

/** Who may use the proxy: config/client-allow-list.ts `ClientAllowList` (loopback always). */
export interface ClientAllow {
  allows(address: string | undefined): boolean;
}

/** Refused addresses are logged once each, up to this many, so a scanner cannot flood the log. */
const LOGGED_REFUSALS = 1_000;

/**
 * The proxy serves the same clients as the client API and nobody else: a proxy open to the
 * LAN hands every host on it this node's upstream credentials, its cache and a way out
 * through its network position. The check runs on the socket's peer address before any
 * CONNECT is tunnelled or intercepted and before any request is forwarded.
 */
export class ClientAdmission {
  private readonly refused = new Set<string>();

  constructor(
    private readonly allow: ClientAllow,
    private readonly logger: Logger,
  ) {}

  /** undefined when the socket's peer may use the proxy, else the error to answer with. */
  refusal(socket: Socket): RegistryError | undefined {
    const address = socket.remoteAddress;
    if (this.allow.allows(address)) return undefined;
    const who = address ?? 'an unknown address';
    if (!this.refused.has(who) && this.refused.size < LOGGED_REFUSALS) {
      this.refused.add(who);
      this.logger.warn({ client: who }, 'refused a proxy client that is not in --client-allow (logged once per address)');
    }
    return new RegistryError('DENIED', `${who} may not use this proxy: it serves this node and the hosts in --client-allow only`, {
      detail: { client: who },
    });
  }
}
