import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * V8's full collection, which node only hands out when started with --expose-gc (the CLI is
 * started by systemd, docker or a user, not always with our flags). Setting the flag at run
 * time and taking `gc` from a fresh context is how Jest gets it for --logHeapUsage. Used once
 * after a crowd leaves (server/crowd-release.ts), never on a request's path.
 */
export function exposeGc(): () => void {
  setFlagsFromString('--expose-gc');
  const gc: unknown = runInNewContext('gc');
  return typeof gc === 'function' ? () => void (gc as () => unknown)() : () => undefined;
}
