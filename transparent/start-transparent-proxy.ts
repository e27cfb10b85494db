import type { RequestListener } from 'node:http';
import type { Agent as HttpsAgent } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { HostPort } from '../config/parse-host-port.js';
import type { Upstreams } from '../config/parse-upstreams.js';
import { loadOrCreateCertificateAuthority } from './certificate-authority.js';
import { ClientAdmission, type ClientAllow } from './client-admission.js';
import { Forwarder } from './forwarder.js';
import { InterceptServer } from './intercept-server.js';
import { InterceptedRegistries } from './intercepted-registries.js';
import { TargetPolicy, type ResolveHost } from './target-policy.js';
import { TransparentProxy, type TransparentProxyOptions } from './transparent-proxy.js';
import { viaEntry } from './via.js';

export interface TransparentModeOptions {
  readonly listen: HostPort;
  readonly caDir: string;
  readonly upstreams: Upstreams;
  /** The mirror's koa handler: intercepted pulls are answered exactly like mirror pulls. */
  readonly core: RequestListener;
  readonly httpsAgent: HttpsAgent;
  readonly timeoutMs: number;
  readonly nodeId: string;
  /** The same allow list as the client API (`new ClientAllowList(config.clientAllow)`). */
  readonly clientAllow: ClientAllow;
  /** This node's other listening ports (client API, peer API); the proxy adds its own. Asked at every check. */
  readonly ownPorts: () => readonly number[];
  /** Replaces getaddrinfo for tunnel and forward targets (tests). */
  readonly resolve?: ResolveHost;
  readonly logger: Logger;
  readonly observer?: TransparentProxyOptions['observer'];
  readonly maxConnections?: number;
  readonly onRefused?: () => void;
}

/** Loads (or on first start creates) the CA, then listens for proxy clients. */
export async function startTransparentProxy(options: TransparentModeOptions): Promise<{ proxy: TransparentProxy; address: AddressInfo }> {
  const { authority, created } = await loadOrCreateCertificateAuthority(options.caDir);
  options.logger.info(
    { caDir: options.caDir, subject: authority.subject, sha256: authority.fingerprintSha256 },
    created ? 'created the transparent-mode CA: clients must trust it (edgepier ca export)' : 'loaded the transparent-mode CA',
  );
  const via = viaEntry(options.nodeId);
  const forwarder = new Forwarder({ httpsAgent: options.httpsAgent, timeoutMs: options.timeoutMs, via, logger: options.logger });
  const intercept = new InterceptServer({ certificates: authority, core: options.core, forwarder, logger: options.logger });
  // The proxy's own port is known once it listens; the policy asks at every check.
  const own: { proxyPort?: number } = {};
  const targets = new TargetPolicy({
    ownPorts: () => [...options.ownPorts(), ...(own.proxyPort === undefined ? [] : [own.proxyPort])],
    resolveTimeoutMs: options.timeoutMs,
    ...(options.resolve ? { resolve: options.resolve } : {}),
  });
  const proxy = new TransparentProxy({
    registries: new InterceptedRegistries(options.upstreams),
    intercept,
    forwarder,
    core: options.core,
    via,
    connectTimeoutMs: options.timeoutMs,
    admission: new ClientAdmission(options.clientAllow, options.logger),
    targets,
    logger: options.logger,
    ...(options.observer ? { observer: options.observer } : {}),
    ...(options.maxConnections !== undefined ? { maxConnections: options.maxConnections } : {}),
    ...(options.onRefused ? { onRefused: options.onRefused } : {}),
  });
  const address = await proxy.listen(options.listen.host, options.listen.port);
  own.proxyPort = address.port;
  return { proxy, address };
}
