// A load-generating client for bench/serve.ts, run as its own process so that its CPU and
// memory are not the server's: GETs every URL it is given, `concurrency` at a time, and
// hashes each body. Prints one JSON line (ClientReport) on stdout.
//   node --import tsx bench/serve-client.ts '{"urls":[...],"concurrency":8}'
import { createHash } from 'node:crypto';
import { Agent, get } from 'node:http';

export interface ClientRequest {
  readonly urls: readonly string[];
  readonly concurrency: number;
}

export interface ClientResult {
  readonly url: string;
  readonly status: number;
  readonly bytes: number;
  readonly sha256: string;
  /** The X-EdgePier-Source header, when the server sent one. */
  readonly source?: string;
  readonly ms: number;
  readonly error?: string;
}

export interface ClientReport {
  readonly results: readonly ClientResult[];
  readonly ms: number;
}

function fetchOne(agent: Agent, url: string): Promise<ClientResult> {
  const started = performance.now();
  return new Promise((resolve) => {
    const hash = createHash('sha256');
    let bytes = 0;
    let settled = false;
    const finish = (status: number, source: string | undefined, error?: string): void => {
      if (settled) return;
      settled = true;
      resolve({
        url,
        status,
        bytes,
        sha256: `sha256:${hash.digest('hex')}`,
        ...(source ? { source } : {}),
        ms: Math.round(performance.now() - started),
        ...(error ? { error } : {}),
      });
    };
    const request = get(url, { agent }, (response) => {
      const header = response.headers['x-edgepier-source'];
      const source = typeof header === 'string' ? header : undefined;
      response.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        hash.update(chunk);
      });
      response.once('end', () => finish(response.statusCode ?? 0, source));
      response.once('error', (error) => finish(response.statusCode ?? 0, source, error.message));
      // A cut connection after the headers surfaces as 'aborted' on the response.
      response.once('aborted', () => finish(response.statusCode ?? 0, source, 'aborted'));
    });
    request.once('error', (error) => finish(0, undefined, error.message));
  });
}

async function run(input: ClientRequest): Promise<ClientReport> {
  const agent = new Agent({ keepAlive: true, maxSockets: input.concurrency });
  const started = performance.now();
  const results: ClientResult[] = new Array<ClientResult>(input.urls.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    for (;;) {
      const index = next;
      next += 1;
      const url = input.urls[index];
      if (url === undefined) return;
      results[index] = await fetchOne(agent, url);
    }
  };
  await Promise.all(Array.from({ length: input.concurrency }, () => worker()));
  agent.destroy();
  return { results, ms: Math.round(performance.now() - started) };
}

const argument = process.argv[2];
if (argument === undefined) {
  process.stderr.write('usage: serve-client.ts \'{"urls":["http://..."],"concurrency":8}\'\n');
  process.exitCode = 2;
} else {
  const input = JSON.parse(argument) as ClientRequest;
  run(input).then(
    (report) => process.stdout.write(`${JSON.stringify(report)}\n`),
    (error: unknown) => {
      process.stderr.write(`serve-client: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exitCode = 1;
    },
  );
}
