// A tiny Docker-registry token service (the "Bearer realm" of distribution's token auth) on
// loopback: checks HTTP Basic credentials, grants the requested scopes, and signs an RS256 JWT
// whose x5c header carries a self-signed certificate that the registry trusts through
// `auth.token.rootcertbundle`. Counts every token request so tests can prove tokens are cached.
import { createPrivateKey, randomBytes, sign, X509Certificate, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { runCommand } from './run-command.js';

export interface TokenServerOptions {
  /** Where the key and certificate are written (the caller owns and deletes it). */
  readonly workDir: string;
  readonly username: string;
  readonly password: string;
  /** `service` the registry expects as the JWT audience. Default `edgepier-test`. */
  readonly service?: string;
  /** JWT `iss`; must equal the registry's `auth.token.issuer`. Default `edgepier-test-issuer`. */
  readonly issuer?: string;
  /** Grant `pull` to requests without credentials. Default false: credentials required. */
  readonly anonymousPull?: boolean;
  /** Lifetime of issued tokens. Default 300 s (distribution's clients assume 60 s when absent). */
  readonly tokenTtlSeconds?: number;
}

export interface AccessEntry {
  readonly type: string;
  readonly name: string;
  readonly actions: readonly string[];
}

export interface TokenRequestRecord {
  readonly method: string;
  /** Authenticated user name, undefined for anonymous requests. */
  readonly account: string | undefined;
  /** Raw `scope` values as sent (GET query params, or the space-separated POST form field). */
  readonly scopes: readonly string[];
  readonly granted: readonly AccessEntry[];
  readonly status: number;
}

export interface TokenServer {
  /** Base URL, `http://127.0.0.1:PORT`. */
  readonly url: string;
  /** The Bearer realm, `http://127.0.0.1:PORT/token`. */
  readonly realm: string;
  readonly service: string;
  readonly issuer: string;
  /** PEM certificate for the registry's `rootcertbundle`. */
  readonly certPath: string;
  /** How many requests reached `/token` (any method, any outcome). */
  readonly tokenRequests: number;
  readonly requests: readonly TokenRequestRecord[];
  reset(): void;
  close(): Promise<void>;
}

function base64url(data: Buffer | string): string {
  return Buffer.from(data).toString('base64url');
}

/** Parses `repository:name/with/slashes:pull,push` (the name may itself hold ':' e.g. a port). */
export function parseScope(scope: string): AccessEntry | undefined {
  const first = scope.indexOf(':');
  const last = scope.lastIndexOf(':');
  if (first <= 0 || last <= first) return undefined;
  const actions = scope
    .slice(last + 1)
    .split(',')
    .filter((action) => action.length > 0);
  return { type: scope.slice(0, first), name: scope.slice(first + 1, last), actions };
}

function parseBasic(header: string | undefined): { user: string; pass: string } | undefined {
  const match = /^Basic\s+(\S+)$/i.exec(header ?? '');
  if (!match?.[1]) return undefined;
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  return { user: decoded.slice(0, colon), pass: decoded.slice(colon + 1) };
}

async function readBody(req: IncomingMessage, limit = 64 * 1024): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new Error('token request body too large');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

class JwtSigner {
  constructor(
    private readonly key: KeyObject,
    private readonly x5c: string,
    private readonly issuer: string,
    private readonly service: string,
  ) {}

  sign(subject: string, access: readonly AccessEntry[], ttlSeconds: number, now: number): string {
    const header = { typ: 'JWT', alg: 'RS256', x5c: [this.x5c] };
    const claims = {
      iss: this.issuer,
      sub: subject,
      aud: this.service,
      exp: now + ttlSeconds,
      nbf: now - 10,
      iat: now,
      jti: randomBytes(12).toString('hex'),
      access,
    };
    const signingInput = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(claims))}`;
    const signature = sign('sha256', Buffer.from(signingInput), this.key);
    return `${signingInput}.${base64url(signature)}`;
  }
}

/** Makes an RSA key and a self-signed certificate with the openssl CLI. */
async function makeCertificate(workDir: string): Promise<{ keyPath: string; certPath: string }> {
  const keyPath = join(workDir, 'token-key.pem');
  const certPath = join(workDir, 'token-cert.pem');
  await runCommand(
    'openssl',
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyPath, '-out', certPath,
      '-days', '2', '-subj', '/CN=edgepier-test-token-issuer'],
    { timeoutMs: 30_000 },
  );
  return { keyPath, certPath };
}

export async function startTokenServer(options: TokenServerOptions): Promise<TokenServer> {
  const service = options.service ?? 'edgepier-test';
  const issuer = options.issuer ?? 'edgepier-test-issuer';
  const ttl = options.tokenTtlSeconds ?? 300;
  const { keyPath, certPath } = await makeCertificate(options.workDir);
  const key = createPrivateKey(await readFile(keyPath));
  const cert = new X509Certificate(await readFile(certPath));
  const signer = new JwtSigner(key, cert.raw.toString('base64'), issuer, service);

  let records: TokenRequestRecord[] = [];
  let count = 0;

  const grant = (account: string | undefined, scopes: readonly string[]): AccessEntry[] =>
    scopes.flatMap((scope) => {
      const entry = parseScope(scope);
      if (!entry) return [];
      const actions = account === undefined ? entry.actions.filter((a) => a === 'pull') : entry.actions;
      return [{ ...entry, actions }];
    });

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (url.pathname !== '/token') {
      sendJson(res, 404, { errors: [{ code: 'NOT_FOUND', message: 'no such endpoint' }] });
      return;
    }
    count += 1;
    const method = req.method ?? 'GET';
    let user: string | undefined;
    let pass: string | undefined;
    let scopes: string[];
    let isOAuth = false;
    if (method === 'POST') {
      // OAuth2 password grant (containerd, docker with identity tokens): form-encoded body.
      isOAuth = true;
      const form = new URLSearchParams(await readBody(req));
      if (form.get('grant_type') !== 'password') {
        records.push({ method, account: undefined, scopes: [], granted: [], status: 400 });
        sendJson(res, 400, { error: 'unsupported_grant_type' });
        return;
      }
      user = form.get('username') ?? undefined;
      pass = form.get('password') ?? undefined;
      scopes = (form.get('scope') ?? '').split(' ').filter((s) => s.length > 0);
    } else {
      const basic = parseBasic(req.headers.authorization);
      user = basic?.user;
      pass = basic?.pass;
      scopes = url.searchParams.getAll('scope');
    }
    const presented = user !== undefined;
    const valid = presented && user === options.username && pass === options.password;
    if ((presented && !valid) || (!presented && !options.anonymousPull)) {
      records.push({ method, account: undefined, scopes, granted: [], status: 401 });
      sendJson(res, 401, { errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] }, {
        'www-authenticate': 'Basic realm="edgepier-test-token"',
      });
      return;
    }
    const account = valid ? user : undefined;
    const granted = grant(account, scopes);
    const now = Math.floor(Date.now() / 1000);
    const token = signer.sign(account ?? '', granted, ttl, now);
    records.push({ method, account, scopes, granted, status: 200 });
    const body: Record<string, unknown> = {
      token,
      access_token: token,
      expires_in: ttl,
      issued_at: new Date(now * 1000).toISOString(),
    };
    if (isOAuth) body.scope = scopes.join(' ');
    sendJson(res, 200, body);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) sendJson(res, 500, { error: String(error) });
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;

  return {
    url,
    realm: `${url}/token`,
    service,
    issuer,
    certPath,
    get tokenRequests() {
      return count;
    },
    get requests() {
      return records;
    },
    reset() {
      records = [];
      count = 0;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
