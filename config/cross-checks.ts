import type { ConfigProblem } from './config-problem.js';
import { isLoopbackHost } from './client-allow-list.js';
import type { EdgePierConfig } from './edgepier-config.js';
import { formatHostPort } from './parse-host-port.js';

/**
 * Rules that join several settings. A non-loopback client listener without an allow list
 * would hand the node's upstream credentials and cache to every host on the LAN, so it is
 * refused rather than guessed at.
 */
export function crossCheck(config: EdgePierConfig): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const open = (host: string): boolean => !isLoopbackHost(host) && config.clientAllow.length === 0;
  if (open(config.listen.host)) {
    problems.push({
      setting: '--listen',
      message: `${formatHostPort(config.listen)} is reachable from other hosts: also give --client-allow CIDR,... (the hosts whose runtimes may pull here), or listen on 127.0.0.1`,
    });
  }
  if (config.proxyListen !== null && open(config.proxyListen.host)) {
    problems.push({
      setting: '--proxy-listen',
      message: `${formatHostPort(config.proxyListen)} is reachable from other hosts: also give --client-allow CIDR,..., or bind the proxy to 127.0.0.1`,
    });
  }
  if (config.peerListen.port !== 0 && config.peerListen.port === config.listen.port && config.peerListen.host === config.listen.host) {
    problems.push({ setting: '--peer-listen', message: 'must differ from --listen: the peer API and the client API are separate listeners' });
  }
  return problems;
}
