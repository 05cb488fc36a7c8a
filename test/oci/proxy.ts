/**
 * A loopback reverse proxy in front of the test registry that can misbehave on blob
 * downloads: cut the body after N bytes (an interrupted transfer). Everything else is
 * passed through unchanged, headers included.
 */
import { request } from 'node:http';
import { startServer } from '../helpers/http-server.js';

export interface MisbehavingProxy {
  host: string;
  /** Cut the next blob GET bodies after this many bytes (undefined: pass through). */
  cutBlobsAfter: number | undefined;
  /** Range headers seen on blob GETs, in order. */
  blobRanges: (string | undefined)[];
  stop(): Promise<void>;
}

export async function startProxy(upstreamHost: string): Promise<MisbehavingProxy> {
  const [uHost, uPort] = upstreamHost.split(':');
  const state: MisbehavingProxy = {
    host: '',
    cutBlobsAfter: undefined,
    blobRanges: [],
    stop: async () => {},
  };
  const server = await startServer(
    {},
    {
      fallback: (req, res) => {
        const isBlobGet = req.method === 'GET' && /\/blobs\/sha256:/.test(req.url ?? '');
        if (isBlobGet) state.blobRanges.push(req.headers.range);
        const up = request(
          {
            host: uHost,
            port: Number(uPort),
            method: req.method,
            path: req.url,
            headers: req.headers,
          },
          (upRes) => {
            res.writeHead(upRes.statusCode ?? 502, upRes.headers);
            const cut = isBlobGet && upRes.statusCode === 200 ? state.cutBlobsAfter : undefined;
            if (cut === undefined) {
              upRes.pipe(res);
              return;
            }
            let sent = 0;
            upRes.on('data', (chunk: Buffer) => {
              if (sent >= cut) return;
              const part = chunk.subarray(0, cut - sent);
              sent += part.length;
              res.write(part);
              if (sent >= cut) {
                upRes.destroy();
                // Flush what was written, then drop the connection mid-body.
                res.socket?.end(() => res.socket?.destroy());
              }
            });
          },
        );
        up.on('error', () => res.destroy());
        req.pipe(up);
      },
    },
  );
  state.host = `127.0.0.1:${server.port}`;
  state.stop = () => server.close();
  return state;
}
