// A TCP proxy that adds a fixed one-way delay to each direction: every chunk read from one
// side is written to the other `delayMs` later (order kept, backpressure kept). It stands in
// for netem, which these kernels do not have. Run inside the cloud namespace:
//   node --import tsx test/support/site-delay-proxy.ts LISTEN_HOST:PORT TARGET_HOST:PORT DELAY_MS
// It prints `delay-proxy listening` once it accepts connections and exits on SIGTERM.
import { connect, createServer, type Socket } from 'node:net';

const [listenArg = '', targetArg = '', delayArg = ''] = process.argv.slice(2);
const delayMs = Number(delayArg);
/** Bytes in flight (read, not yet written) per direction before the reader is paused. */
const MAX_IN_FLIGHT = 4 * 1024 * 1024;

function hostPort(value: string): { host: string; port: number } {
  const colon = value.lastIndexOf(':');
  const port = Number(value.slice(colon + 1));
  if (colon <= 0 || !Number.isInteger(port) || port <= 0 || port > 65535) throw new Error(`expected HOST:PORT, got ${JSON.stringify(value)}`);
  return { host: value.slice(0, colon), port };
}

/** Copies `from` to `to`, each chunk `delayMs` late. */
function delayedPipe(from: Socket, to: Socket): void {
  let inFlight = 0;
  from.on('data', (chunk: Buffer) => {
    inFlight += chunk.length;
    if (inFlight > MAX_IN_FLIGHT) from.pause();
    setTimeout(() => {
      inFlight -= chunk.length;
      if (!to.destroyed) to.write(chunk);
      if (inFlight <= MAX_IN_FLIGHT / 2 && from.isPaused() && to.writableLength < MAX_IN_FLIGHT) from.resume();
    }, delayMs);
  });
  // The FIN travels with the same delay, behind the last chunk.
  from.on('end', () => setTimeout(() => to.end(), delayMs));
  to.on('drain', () => {
    if (from.isPaused() && inFlight <= MAX_IN_FLIGHT / 2) from.resume();
  });
}

const listen = hostPort(listenArg);
const target = hostPort(targetArg);
if (!Number.isFinite(delayMs) || delayMs < 0) throw new Error(`DELAY_MS must be >= 0, got ${delayArg}`);
const sockets = new Set<Socket>();

const server = createServer({ allowHalfOpen: true }, (client) => {
  const upstream = connect({ ...target, allowHalfOpen: true });
  for (const socket of [client, upstream]) {
    sockets.add(socket);
    socket.setNoDelay(true);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {
      client.destroy();
      upstream.destroy();
    });
  }
  client.on('close', () => setTimeout(() => upstream.destroy(), delayMs));
  upstream.on('close', () => setTimeout(() => client.destroy(), delayMs));
  delayedPipe(client, upstream);
  delayedPipe(upstream, client);
});
server.listen(listen.port, listen.host, () => process.stdout.write(`delay-proxy listening on ${listenArg} -> ${targetArg}, ${delayMs} ms each way\n`));
process.once('SIGTERM', () => {
  server.close();
  for (const socket of sockets) socket.destroy();
});
