// A small static file server for bench/download.bench.mjs, run as its own process so
// serving does not share a CPU thread with the client under test. Serves files from
// DIR (and below it) with Content-Length, a strong ETag and single `bytes=N-` ranges (If-Range), and
// counts the body bytes it hands to the kernel (GET /__stats, POST /__reset) so the resume
// benchmark measures bytes on the wire, not what the client says it received.
//   node bench/download-server.mjs DIR   → prints the port on stdout
import { createReadStream, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { join, normalize } from 'node:path';

const dir = process.argv[2];
let bytesSent = 0;
let requests = 0;

const server = createServer((req, res) => {
  const path = (req.url ?? '/').split('?')[0];
  if (path === '/__stats') {
    res
      .writeHead(200, { 'content-type': 'application/json' })
      .end(JSON.stringify({ bytesSent, requests }));
    return;
  }
  if (path === '/__reset') {
    bytesSent = 0;
    requests = 0;
    res.writeHead(204).end();
    return;
  }
  requests++;
  // Paths below DIR (a release: latest.json and VERSION/files); never above it.
  const rel = normalize(decodeURIComponent(path)).replace(/^(\.\.(\/|$))+/, '');
  const file = join(dir, rel);
  let st;
  try {
    st = statSync(file);
  } catch {
    res.writeHead(404).end();
    return;
  }
  const etag = `"${st.size.toString(16)}-${Math.floor(st.mtimeMs).toString(16)}"`;
  const headers = { etag, 'last-modified': st.mtime.toUTCString(), 'accept-ranges': 'bytes' };
  let start = 0;
  const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
  const ifRange = req.headers['if-range'];
  if (m && (ifRange === undefined || ifRange === etag)) {
    start = Number(m[1]);
    if (start >= st.size) {
      res.writeHead(416, { ...headers, 'content-range': `bytes */${st.size}` }).end();
      return;
    }
    res.writeHead(206, {
      ...headers,
      'content-length': st.size - start,
      'content-range': `bytes ${start}-${st.size - 1}/${st.size}`,
    });
  } else {
    res.writeHead(200, { ...headers, 'content-length': st.size });
  }
  const stream = createReadStream(file, { start, highWaterMark: 1024 * 1024 });
  // Count a chunk once res has handed it to the kernel (write callback), not when it
  // was read from the file, so a killed client is charged only for bytes on the wire.
  stream.on('data', (chunk) => {
    if (!res.write(chunk, (err) => !err && (bytesSent += chunk.length))) stream.pause();
  });
  res.on('drain', () => stream.resume());
  stream.on('end', () => res.end());
  res.on('close', () => stream.destroy());
});
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${server.address().port}\n`);
});
