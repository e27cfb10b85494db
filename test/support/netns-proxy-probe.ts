// Run inside a namespace: `node --import tsx netns-proxy-probe.ts PROXY_HOST PORT REQUESTS_JSON`.
// Sends each raw HTTP request text of the JSON array to the proxy on its own connection, reads
// until the proxy closes (or 5 s pass), and prints one JSON line per request:
// {"status":403,"body":"..."} — so a test in another namespace sees exactly what the proxy answered.
import { connect } from 'node:net';

const STEP_MS = 5_000;
const [host = '', portText = '', requestsJson = '[]'] = process.argv.slice(2);

function exchange(text: string): Promise<{ status: number; body: string; error?: string }> {
  return new Promise((resolve) => {
    const socket = connect({ host, port: Number(portText) });
    const chunks: Buffer[] = [];
    let error: string | undefined;
    const timer = setTimeout(() => {
      error = 'timeout';
      socket.destroy();
    }, STEP_MS);
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', (failure: Error & { code?: string }) => (error = failure.code ?? failure.message));
    socket.on('close', () => {
      clearTimeout(timer);
      const raw = Buffer.concat(chunks).toString('utf8');
      const split = raw.indexOf('\r\n\r\n');
      const head = split < 0 ? raw : raw.slice(0, split);
      resolve({ status: Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? 0), body: split < 0 ? '' : raw.slice(split + 4), ...(error ? { error } : {}) });
    });
    socket.write(text);
  });
}

for (const text of JSON.parse(requestsJson) as string[]) console.log(JSON.stringify(await exchange(text)));
