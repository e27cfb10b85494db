import { containerdHostsFiles } from './containerd-hosts.js';
import { dockerDaemonFiles, UnmergeableConfigError } from './docker-daemon-json.js';
import type { PlannedFile } from './planned-file.js';
import { k3sRegistriesFiles } from './k3s-registries-yaml.js';
import { podmanRegistriesFiles } from './podman-registries-conf.js';
import { SYSTEMD_ENV_FILE, systemdUnitFiles } from './systemd-unit.js';
import { DOCKER_HUB_HOST } from '../../config/registry-host.js';
import { parseSetupArgs, SETUP_USAGE, type SetupOptions } from './setup-options.js';
import { readIfExists, writeWithBackup } from './write-with-backup.js';

export interface SetupIo {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
  readonly now?: () => Date;
  readonly env?: NodeJS.ProcessEnv;
  /** How the systemd unit runs this CLI; default: exactly as this process was started. */
  readonly executable?: readonly string[];
}

function thisExecutable(): string[] {
  return [process.execPath, ...process.execArgv, process.argv[1] ?? 'edgepier'];
}

function plannedFiles(options: SetupOptions, io: SetupIo): PlannedFile[] {
  switch (options.runtime) {
    case 'containerd':
      return containerdHostsFiles(options);
    case 'docker':
      return dockerDaemonFiles(options);
    case 'podman':
      return podmanRegistriesFiles(options);
    case 'k3s':
      return k3sRegistriesFiles(options);
    case 'systemd':
      return systemdUnitFiles(options, io.executable ?? thisExecutable());
  }
}

/** What the operator still has to do after the files are in place. */
function nextSteps(options: SetupOptions): string[] {
  const missing = options.runtime === 'systemd' ? [] : options.registries.filter((host) => !options.upstreamHosts.includes(host));
  const steps = missing.length > 0 ? [`run the node with an upstream for each registry: ${missing.map((host) => `--upstream ${host}=https://${host}`).join(' ')}`] : [];
  switch (options.runtime) {
    case 'containerd':
      return [
        ...steps,
        `containerd's config.toml must point at this directory: [plugins."io.containerd.grpc.v1.cri".registry] config_path = "${options.configDir}" (ctr: --hosts-dir ${options.configDir}); hosts.toml is read on every pull, no restart needed`,
      ];
    case 'docker':
      return [...steps, 'restart Docker to apply: systemctl restart docker'];
    case 'podman':
      return [...steps, 'Podman reads the drop-in on its next command; restart CRI-O to apply: systemctl restart crio'];
    case 'k3s':
      return [...steps, 'k3s reads registries.yaml at start: systemctl restart k3s (agents: k3s-agent)'];
    case 'systemd':
      return [`settings: EDGEPIER_*=... lines in ${SYSTEMD_ENV_FILE}`, 'systemctl daemon-reload && systemctl enable --now edgepier'];
  }
}

/**
 * `edgepier setup RUNTIME`: prints the runtime's mirror config, or writes it with backups.
 * Printed, stdout holds only the file (so `> /etc/docker/daemon.json` works); its path and
 * the next steps go to stderr.
 */
export async function setupCommand(args: readonly string[], io: SetupIo): Promise<number> {
  const parsed = parseSetupArgs(args, { env: io.env ?? process.env });
  if (parsed.ok === 'help') {
    io.out(`${SETUP_USAGE}\n`);
    return 0;
  }
  if (!parsed.ok) {
    io.err(`edgepier setup:\n${parsed.errors.map((error) => `  ${error}`).join('\n')}\n${SETUP_USAGE}\n`);
    return 2;
  }
  const options = parsed.options;
  if (options.runtime === 'docker' && options.registries.some((host) => host !== DOCKER_HUB_HOST)) {
    io.err(`edgepier setup docker: Docker Engine's registry-mirrors applies to Docker Hub only; for ${options.registries.filter((host) => host !== DOCKER_HUB_HOST).join(', ')} use containerd's hosts.toml (Docker's containerd image store) or Podman\n`);
    return 2;
  }
  const rendered: { path: string; content: string }[] = [];
  try {
    for (const file of plannedFiles(options, io)) rendered.push({ path: file.path, content: file.render(await readIfExists(file.path)) });
  } catch (error) {
    if (!(error instanceof UnmergeableConfigError)) throw error;
    io.err(`edgepier setup ${options.runtime}: ${error.message}; nothing was written\n`);
    return 1;
  }
  if (!options.write) {
    for (const file of rendered) {
      io.err(`edgepier setup ${options.runtime}: ${file.path}\n`);
      io.out(file.content);
    }
    io.err(`(printed only; add --write to write ${rendered.length === 1 ? 'it' : 'them'})\n`);
  } else {
    for (const file of rendered) {
      const outcome = await writeWithBackup(file.path, file.content, io.now?.() ?? new Date());
      const detail = outcome.kind === 'replaced' ? `replaced (previous copy: ${outcome.backup})` : outcome.kind;
      io.out(`${file.path}: ${detail}\n`);
    }
  }
  for (const step of nextSteps(options)) io.err(`next: ${step}\n`);
  return 0;
}
