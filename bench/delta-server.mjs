// The server of bench/delta.bench.mjs, in its own process: static files from DIR with
// Content-Length, a strong ETag and single byte ranges (`bytes=A-B`, `bytes=A-`, as S3
// serves them; no multipart), for the agent and for casync's HTTP chunk store alike.
// It counts every byte it hands to the kernel on every connection (status lines,
// headers and bodies: what the link carries from the server), per run.
//
// --rtt-ms N adds N ms before each response and before the first response of a new
// connection again (its handshake): the round trip of a distant server. (This kernel
// has no sch_netem, so the delay is the server's; the rate limit is tc tbf on the
// veth pair, bench/delta.bench.mjs.)
//   node bench/delta-server.mjs DIR HOST PORT CONTROL_PORT [--rtt-ms N]
// Control (on 127.0.0.1:CONTROL_PORT, not counted): GET /stats → {bytes, requests,
// ranges}, POST /reset, POST /rtt?ms=N.
import { createReadStream, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { join, normalize } from 'node:path';

const [dir, host, port, controlPort] = process.argv.slice(2);
let rttMs = Number(process.argv[process.argv.indexOf('--rtt-ms') + 1] ?? 0) || 0;
let bytes = 0;
let requests = 0;
let ranges = 0;
const sockets = new Set();

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const server = createServer({ keepAliveTimeout: 60_000 }, async (req, res) => {
  requests++;
  const socket = req.socket;
  // The handshake's round trip, once per connection; then one per request.
  if (rttMs > 0) await sleep(socket.fresh === false ? rttMs : 2 * rttMs);
  socket.fresh = false;
  const path = decodeURIComponent((req.url ?? '/').split('?')[0]);
  const file = join(dir, normalize(path).replace(/^(\.\.(\/|$))+/, ''));
  let st;
  try {
    st = statSync(file);
    if (!st.isFile()) throw new Error('not a file');
  } catch {
    res.writeHead(404, { 'content-length': 0 }).end();
    return;
  }
  const etag = `"${st.ino.toString(16)}-${st.size.toString(16)}-${Math.floor(st.mtimeMs).toString(16)}"`;
  const headers = { etag, 'accept-ranges': 'bytes', 'content-type': 'application/octet-stream' };
  let start = 0;
  let end = st.size - 1;
  let partial = false;
  const m = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
  const ifRange = req.headers['if-range'];
  if (m && (ifRange === undefined || ifRange === etag)) {
    start = Number(m[1]);
    end = m[2] === '' ? st.size - 1 : Math.min(Number(m[2]), st.size - 1);
    if (start >= st.size || end < start) {
      res
        .writeHead(416, { ...headers, 'content-range': `bytes */${st.size}`, 'content-length': 0 })
        .end();
      return;
    }
    partial = true;
    ranges++;
  }
  res.writeHead(partial ? 206 : 200, {
    ...headers,
    'content-length': end - start + 1,
    ...(partial ? { 'content-range': `bytes ${start}-${end}/${st.size}` } : {}),
  });
  if (req.method === 'HEAD' || st.size === 0) {
    res.end();
    return;
  }
  const stream = createReadStream(file, { start, end, highWaterMark: 1024 * 1024 });
  stream.pipe(res);
  res.on('close', () => stream.destroy());
});

// Bytes on the wire from the server: what each socket wrote, counted when it closes
// and read live for the open ones.
let closedBytes = 0;
server.on('connection', (socket) => {
  sockets.add(socket);
  socket.on('close', () => {
    closedBytes += socket.bytesWritten;
    sockets.delete(socket);
  });
});
const written = () => closedBytes + [...sockets].reduce((s, k) => s + k.bytesWritten, 0);

const control = createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://x');
  if (url.pathname === '/stats') {
    bytes = written();
    res
      .writeHead(200, { 'content-type': 'application/json' })
      .end(JSON.stringify({ bytes, requests, ranges }));
  } else if (url.pathname === '/reset') {
    for (const s of sockets) s.destroy();
    closedBytes = 0;
    requests = 0;
    ranges = 0;
    // The destroyed sockets' bytes were counted on close: drop them again after it.
    setTimeout(() => {
      closedBytes = 0;
      res.writeHead(204).end();
    }, 50);
  } else if (url.pathname === '/rtt') {
    rttMs = Number(url.searchParams.get('ms') ?? 0);
    res.writeHead(204).end();
  } else {
    res.writeHead(404).end();
  }
});

server.listen(Number(port), host, () => {
  control.listen(Number(controlPort), '127.0.0.1', () => process.stdout.write('ready\n'));
});
