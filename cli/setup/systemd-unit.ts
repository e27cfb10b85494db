import { join } from 'node:path';
import { MALLOC_ENVIRONMENT } from '../../cache/read-buffer-mapping.js';
import type { PlannedFile } from './planned-file.js';
import type { SetupOptions } from './setup-options.js';

export const SYSTEMD_UNIT_NAME = 'edgepier.service';

/** Where the unit keeps what must survive a cache wipe (the CA) and the cache itself. */
const STATE_DIR = '/var/lib/edgepier';
const CACHE_DIR = '/var/cache/edgepier';
export const SYSTEMD_ENV_FILE = '/etc/edgepier/edgepier.env';

/**
 * One ExecStart word. systemd splits on whitespace and expands `%` specifiers and `$VAR`, so
 * those are escaped; a word with spaces or quotes is double-quoted.
 */
export function systemdWord(word: string): string {
  const escaped = word.replace(/%/g, '%%').replace(/\$/g, '$$$$');
  return /[\s"'\\;]/.test(escaped) || escaped === '' ? `"${escaped.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"` : escaped;
}

/**
 * A hardened unit that runs `serve`. Its own user (dynamic unless an `edgepier` user exists),
 * the cache and state directories systemd creates for it, a read-only system, no privileges.
 * Ready means /readyz answers: `ExecStartPost` waits for it, so units ordered after this one
 * (containerd, k3s, docker) start once the mirror serves.
 */
export function renderSystemdUnit(executable: readonly string[], settingsArgv: readonly string[]): string {
  const command = (args: readonly string[]): string => [...executable, ...args, ...settingsArgv].map(systemdWord).join(' ');
  return [
    "# EdgePier as a systemd service. Written by 'edgepier setup systemd' (settings given to it are",
    `# kept on ExecStart); put further settings as EDGEPIER_*=... lines in ${SYSTEMD_ENV_FILE}.`,
    '[Unit]',
    'Description=EdgePier pull-through registry mirror for edge sites',
    'Wants=network-online.target',
    'After=network-online.target',
    '# Ordering only: the runtimes do not need the mirror, but start better once it answers.',
    'Before=containerd.service docker.service k3s.service k3s-agent.service crio.service',
    '',
    '[Service]',
    'Type=exec',
    `ExecStart=${command(['serve'])}`,
    '# Readiness: the unit is active once the node answers /readyz (on the address its settings name).',
    `ExecStartPost=${command(['status', '--wait', '60s'])}`,
    'TimeoutStartSec=90s',
    '# Longer than serve\'s 5 s grace for in-flight responses plus the mDNS goodbyes.',
    'TimeoutStopSec=30s',
    'KillMode=mixed',
    'Restart=on-failure',
    'RestartSec=2s',
    '# glibc maps each blob read buffer on its own and gives it back when freed, so RSS returns',
    '# to idle after a crowd of clients (cache/read-buffer-mapping.ts).',
    ...Object.entries(MALLOC_ENVIRONMENT).map(([name, value]) => `Environment=${name}=${value}`),
    `Environment=EDGEPIER_CACHE_DIR=${CACHE_DIR}`,
    `Environment=EDGEPIER_CA_DIR=${STATE_DIR}/ca`,
    `EnvironmentFile=-${SYSTEMD_ENV_FILE}`,
    '# A site key readable only by this service: put it at /etc/edgepier/site.key (root, 0600) and',
    '# uncomment both lines; systemd hands the unit a private copy.',
    '#LoadCredential=site.key:/etc/edgepier/site.key',
    '#Environment=EDGEPIER_SITE_KEY_FILE=%d/site.key',
    'User=edgepier',
    'DynamicUser=yes',
    'CacheDirectory=edgepier',
    'StateDirectory=edgepier',
    'UMask=0077',
    'LimitNOFILE=65536',
    'NoNewPrivileges=yes',
    'CapabilityBoundingSet=',
    'AmbientCapabilities=',
    'ProtectSystem=strict',
    'ProtectHome=yes',
    'PrivateTmp=yes',
    'PrivateDevices=yes',
    'ProtectKernelTunables=yes',
    'ProtectKernelModules=yes',
    'ProtectKernelLogs=yes',
    'ProtectControlGroups=yes',
    'ProtectClock=yes',
    'ProtectHostname=yes',
    'ProtectProc=invisible',
    '# AF_NETLINK: listing the interfaces for mDNS; AF_UNIX: journald.',
    'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX AF_NETLINK',
    'RestrictNamespaces=yes',
    'RestrictRealtime=yes',
    'RestrictSUIDSGID=yes',
    'LockPersonality=yes',
    '# No MemoryDenyWriteExecute: V8\'s JIT needs writable code pages.',
    'SystemCallArchitectures=native',
    'SystemCallFilter=@system-service',
    'SystemCallErrorNumber=EPERM',
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n');
}

export function systemdUnitFiles(options: SetupOptions, executable: readonly string[]): PlannedFile[] {
  return [{ path: join(options.configDir, SYSTEMD_UNIT_NAME), render: () => renderSystemdUnit(executable, options.settingsArgv) }];
}
