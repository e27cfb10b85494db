import type { Credentials } from './parse-credentials.js';
import type { HostPort } from './parse-host-port.js';
import type { Cidr } from './parse-cidr.js';
import type { CacheMaxSize } from './parse-size.js';
import type { Upstreams } from './parse-upstreams.js';

export type { CacheMaxSize } from './parse-size.js';
export type { Credentials, RegistryCredential } from './parse-credentials.js';
export type { HostPort } from './parse-host-port.js';
export type { Cidr } from './parse-cidr.js';
export type { Upstream, Upstreams } from './parse-upstreams.js';

export const PEER_MODES = ['proxy', 'redirect'] as const;
export type PeerMode = (typeof PEER_MODES)[number];
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/**
 * The effective, validated configuration. Every field is declared once in `SETTINGS`
 * (config/settings.ts), which the compiler holds to this shape.
 */
export interface EdgePierConfig {
  /** The YAML file that was read, or null. */
  readonly configFile: string | null;
  /** The client API: this node's runtimes (and, on a gateway, the allowed hosts). */
  readonly listen: HostPort;
  /** Who besides loopback may use the client API and the transparent proxy. */
  readonly clientAllow: readonly Cidr[];
  /** The peer API, for site members only. */
  readonly peerListen: HostPort;
  /** The site key file, or null for an open site. */
  readonly siteKeyFile: string | null;
  readonly cacheDir: string;
  readonly cacheMaxSize: CacheMaxSize;
  /** Share (0-100] of the budget that eviction goes down to. */
  readonly cacheLowWater: number;
  readonly upstreams: Upstreams;
  readonly credentials: Credentials;
  /** Milliseconds. */
  readonly upstreamTimeout: number;
  /** Milliseconds a tag lookup waits for upstream before serving the last known mapping. */
  readonly tagTimeout: number;
  /** Milliseconds without progress writing to a client before it is cut. */
  readonly sendTimeout: number;
  /** Milliseconds a keep-alive connection may sit without a request. */
  readonly idleTimeout: number;
  readonly maxConnections: number;
  readonly mdns: boolean;
  /** IPv4 address whose interface mDNS uses and advertises; '' means every interface. */
  readonly mdnsInterface: string;
  readonly peers: readonly HostPort[];
  readonly peerMode: PeerMode;
  /** Milliseconds. */
  readonly peerTimeout: number;
  /** Milliseconds before a slow peer is raced by the next; 0: never. */
  readonly peerHedgeDelay: number;
  /** Milliseconds without a byte before a blob source is dropped. */
  readonly downloadStallTimeout: number;
  /** Bytes per second a blob source must average over `downloadRateWindow`; 0: no floor. */
  readonly downloadMinRate: number;
  /** Milliseconds. */
  readonly downloadRateWindow: number;
  /** Bytes of all spools together; 0: unlimited. */
  readonly spoolMaxSize: number;
  /** Children per node in a layer's relay tree; Infinity: every node fetches through the owner. */
  readonly swarmFanOut: number;
  /** The transparent-mode proxy listener, or null when that mode is off. */
  readonly proxyListen: HostPort | null;
  /** null means `<cacheDir>/ca`. */
  readonly caDir: string | null;
  /** Extra PEM CAs for upstream TLS, or null for the system trust store alone. */
  readonly upstreamCaFile: string | null;
  /** '' means: the app generates one and persists it. */
  readonly nodeId: string;
  readonly logLevel: LogLevel;
}

export type SettingKey = keyof EdgePierConfig;
