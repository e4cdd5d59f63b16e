/**
 * The bare Node HTTP server of the machine-limit measurement: one process, no framework, no
 * database, a 5-byte answer. Pulse's services are one Node process each too, so its req/s is
 * the ceiling for any of their routes on this machine.
 *   node --import tsx bench/hello-server.ts PORT
 */
import { createServer } from 'node:http';

const port = Number(process.argv[2]);
createServer((_request, response) => {
  response.writeHead(200, { 'content-type': 'text/plain' });
  response.end('hello');
}).listen(port, '127.0.0.1');
