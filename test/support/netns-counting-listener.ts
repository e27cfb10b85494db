// Run inside a namespace: `node --import tsx netns-counting-listener.ts HOST PORT`. An HTTP
// server that prints one JSON line per accepted TCP connection ({"connection":"<peer>"}) and
// answers every request (also inside a CONNECT tunnel) with `counted`. It proves whether a
// proxy reached it: refused targets must print no connection line.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

const [host = '', portText = ''] = process.argv.slice(2);
const server = createServer((request, response) => {
  request.resume();
  response.setHeader('connection', 'close');
  response.end('counted');
});
server.on('connection', (socket) => console.log(JSON.stringify({ connection: socket.remoteAddress })));
server.listen(Number(portText), host, () => console.log(JSON.stringify({ listening: (server.address() as AddressInfo).port })));
process.once('SIGTERM', () => process.exit(0));
