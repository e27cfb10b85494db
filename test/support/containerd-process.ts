// containerd as a plain process for the tests that pull with it: its own root, state and
// sockets under a temp dir, no writes to /opt, the native snapshotter. With `cri`, the CRI
// plugin (what kubelet talks to) is on and reads hosts.toml from `certsDir`; without, it is
// off and the test talks to containerd with `ctr`.
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startProcess, type RunningProcess } from './child-process.js';

export const CONTAINERD = process.env.EDGEPIER_TEST_CONTAINERD ?? '/usr/bin/containerd';
export const CTR = process.env.EDGEPIER_TEST_CTR ?? '/usr/bin/ctr';

/** Why containerd cannot run here (for `test(..., { skip })`), or false. `binaries` defaults to containerd alone. */
export function containerdSkipReason(binaries: readonly string[] = [CONTAINERD]): string | false {
  if (!binaries.every((binary) => existsSync(binary))) return `${binaries.join(' or ')} is missing: apt-get install -y containerd`;
  if (process.getuid?.() !== 0) return 'containerd needs root (it runs here as a process with temp root/state dirs)';
  return false;
}

export interface ContainerdOptions {
  /** Holds the config, root, state and (with `cri`) the CNI dirs. */
  readonly dir: string;
  readonly cri?: { readonly certsDir: string };
  /** Log prefix of the process. */
  readonly name: string;
}

/** Starts containerd; the caller waits for the API it uses (ctr or CRI) and stops the process by pid. */
export async function startContainerd(options: ContainerdOptions): Promise<{ process: RunningProcess; socket: string }> {
  const socket = join(options.dir, 'containerd.sock');
  const config = join(options.dir, 'containerd.toml');
  await writeFile(config, containerdConfig(options.dir, socket, options.cri));
  return { process: startProcess(CONTAINERD, ['--config', config], { name: options.name }), socket };
}

function containerdConfig(dir: string, socket: string, cri: ContainerdOptions['cri']): string {
  const disabled = ['io.containerd.internal.v1.opt', 'io.containerd.snapshotter.v1.devmapper', 'io.containerd.snapshotter.v1.btrfs', 'io.containerd.snapshotter.v1.zfs', 'io.containerd.snapshotter.v1.aufs'];
  const lines = [
    'version = 2',
    `root = "${join(dir, 'root')}"`,
    `state = "${join(dir, 'state')}"`,
    `disabled_plugins = [${(cri ? disabled : ['io.containerd.grpc.v1.cri', ...disabled]).map((plugin) => `"${plugin}"`).join(', ')}]`,
    '[grpc]',
    `  address = "${socket}"`,
    '[ttrpc]',
    `  address = "${socket}.ttrpc"`,
    '[debug]',
    '  address = ""',
    '[metrics]',
    '  address = ""',
  ];
  if (cri) {
    lines.push(
      '[plugins."io.containerd.grpc.v1.cri"]',
      '  stream_server_address = "127.0.0.1"',
      '  stream_server_port = "0"',
      '  disable_apparmor = true',
      '  enable_selinux = false',
      '  [plugins."io.containerd.grpc.v1.cri".containerd]',
      '    snapshotter = "native"',
      '  [plugins."io.containerd.grpc.v1.cri".cni]',
      `    bin_dir = "${join(dir, 'cni-bin')}"`,
      `    conf_dir = "${join(dir, 'cni-conf')}"`,
      '  [plugins."io.containerd.grpc.v1.cri".registry]',
      `    config_path = "${cri.certsDir}"`,
    );
  }
  return [...lines, ''].join('\n');
}
