// A real distribution registry (Debian's docker-registry, 2.8.x) on 127.0.0.1 with filesystem
// storage in a temp dir, optionally behind htpasswd (basic) or Bearer token auth.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import { stringify } from 'yaml';
import { getFreePort, startProcess, waitForHttp, type RunningProcess } from './child-process.js';
import { startTokenServer, type TokenServer } from './token-server.js';

export const REGISTRY_BINARY = process.env.EDGEPIER_TEST_REGISTRY_BIN ?? '/usr/bin/docker-registry';

export type RegistryAuth = 'none' | 'basic' | 'token';

export interface StartRegistryOptions {
  readonly auth?: RegistryAuth;
  /** Default `edgepier`. */
  readonly username?: string;
  /** Default: random per registry. */
  readonly password?: string;
  /** token auth only: let requests without credentials pull. Default false. */
  readonly anonymousPull?: boolean;
  /** token auth only: lifetime of issued tokens. Default 300 s. */
  readonly tokenTtlSeconds?: number;
  /** Budget for the registry to answer /v2/. Default 15000 ms. */
  readonly startDeadlineMs?: number;
}

export interface RunningRegistry {
  /** `http://127.0.0.1:PORT` */
  readonly url: string;
  /** `127.0.0.1:PORT` (what skopeo and image references want). */
  readonly host: string;
  readonly auth: RegistryAuth;
  readonly username?: string;
  readonly password?: string;
  /** Present with `auth: 'token'`. */
  readonly tokenServer?: TokenServer;
  /** Root of the filesystem storage driver. */
  readonly storageDir: string;
  readonly process: RunningProcess;
  /** Stops the registry (and token server), deletes its temp dir. Idempotent. */
  stop(): Promise<void>;
}

const PORT_ATTEMPTS = 3;

function registryConfig(port: number, storageDir: string, auth: Record<string, unknown> | undefined): string {
  const config: Record<string, unknown> = {
    version: 0.1,
    log: { level: 'info', formatter: 'text', accesslog: { disabled: true } },
    storage: {
      filesystem: { rootdirectory: storageDir },
      delete: { enabled: true },
      maintenance: { uploadpurging: { enabled: false } },
      cache: { blobdescriptor: 'inmemory' },
    },
    http: {
      addr: `127.0.0.1:${port}`,
      secret: randomBytes(16).toString('hex'),
      headers: { 'X-Content-Type-Options': ['nosniff'] },
    },
    health: { storagedriver: { enabled: false } },
  };
  if (auth) config.auth = auth;
  return stringify(config);
}

export async function startRegistry(options: StartRegistryOptions = {}): Promise<RunningRegistry> {
  const authKind = options.auth ?? 'none';
  const workDir = await mkdtemp(join(tmpdir(), 'edgepier-registry-'));
  const storageDir = join(workDir, 'storage');
  const username = authKind === 'none' ? undefined : (options.username ?? 'edgepier');
  const password = authKind === 'none' ? undefined : (options.password ?? randomBytes(9).toString('base64url'));
  let tokenServer: TokenServer | undefined;

  try {
    let authConfig: Record<string, unknown> | undefined;
    if (authKind === 'basic' && username !== undefined && password !== undefined) {
      const htpasswdPath = join(workDir, 'htpasswd');
      // distribution only accepts bcrypt entries; bcryptjs writes $2b$, which Go's bcrypt reads.
      await writeFile(htpasswdPath, `${username}:${bcrypt.hashSync(password, 4)}\n`);
      authConfig = { htpasswd: { realm: 'edgepier-test', path: htpasswdPath } };
    } else if (authKind === 'token' && username !== undefined && password !== undefined) {
      tokenServer = await startTokenServer({
        workDir,
        username,
        password,
        anonymousPull: options.anonymousPull ?? false,
        ...(options.tokenTtlSeconds !== undefined ? { tokenTtlSeconds: options.tokenTtlSeconds } : {}),
      });
      authConfig = {
        token: {
          realm: tokenServer.realm,
          service: tokenServer.service,
          issuer: tokenServer.issuer,
          rootcertbundle: tokenServer.certPath,
        },
      };
    }

    for (let attempt = 1; ; attempt += 1) {
      const port = await getFreePort();
      const configPath = join(workDir, 'config.yml');
      await writeFile(configPath, registryConfig(port, storageDir, authConfig));
      const child = startProcess(REGISTRY_BINARY, ['serve', configPath], { name: `docker-registry:${port}` });
      const url = `http://127.0.0.1:${port}`;
      try {
        await waitForHttp(`${url}/v2/`, {
          deadlineMs: options.startDeadlineMs ?? 15_000,
          process: child,
          accept: (status) => status === 200 || status === 401,
        });
      } catch (error) {
        await child.stop({ deadlineMs: 2000 });
        // Another process may have taken the port between getFreePort and bind: try another.
        if (attempt < PORT_ATTEMPTS && /address already in use/i.test(child.stderr + child.stdout)) continue;
        throw error;
      }
      let stopping: Promise<void> | undefined;
      const server = tokenServer;
      return {
        url,
        host: `127.0.0.1:${port}`,
        auth: authKind,
        ...(username !== undefined ? { username } : {}),
        ...(password !== undefined ? { password } : {}),
        ...(server ? { tokenServer: server } : {}),
        storageDir,
        process: child,
        stop() {
          stopping ??= (async () => {
            await child.stop();
            await server?.close();
            await rm(workDir, { recursive: true, force: true });
          })();
          return stopping;
        },
      };
    }
  } catch (error) {
    await tokenServer?.close();
    await rm(workDir, { recursive: true, force: true });
    throw error;
  }
}
