/**
 * containerd's socket for the health tests: a real HTTP/2 server on a unix socket that
 * answers every gRPC call like containerd 1.7's Version (`{version: "v1.7.27"}`).
 */
import { mkdir } from 'node:fs/promises';
import { createServer, type Http2Server } from 'node:http2';
import { dirname } from 'node:path';
import { encodeGrpcMessage } from '../../src/health/grpc.js';

export async function startContainerdStub(socket: string): Promise<Http2Server> {
  await mkdir(dirname(socket), { recursive: true });
  const server = createServer();
  server.on('stream', (stream) => {
    stream.resume();
    stream.on('end', () => {
      stream.respond(
        { ':status': 200, 'content-type': 'application/grpc' },
        { waitForTrailers: true },
      );
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
      stream.end(encodeGrpcMessage(Buffer.from([0x0a, 7, ...Buffer.from('v1.7.27')])));
    });
  });
  await new Promise<void>((r) => server.listen(socket, r));
  return server;
}
