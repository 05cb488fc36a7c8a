import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { request, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { mkdir, mkdtemp, rename, rm, symlink, writeFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  createStaticServer,
  listen,
  parseListen,
  parseRange,
  resolveRequestPath,
} from '../../src/release/serve.js';
import { silentLogger } from '../../src/log.js';
import { hasCode } from '../helpers/rejects.js';

let dir: string;
let server: Server;
let base: string;
const big = randomBytes(4 * 1024 * 1024);

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ks-serve-'));
  const root = join(dir, 'root');
  await mkdir(join(root, 'v1'), { recursive: true });
  await writeFile(join(root, 'latest.json'), '{"version":"v1"}\n');
  await writeFile(join(root, 'v1', 'vmlinuz'), big);
  await writeFile(join(root, 'empty'), '');
  await writeFile(join(root, '.secret'), 'hidden');
  await writeFile(join(dir, 'outside.txt'), 'outside');
  await symlink(join(dir, 'outside.txt'), join(root, 'escape'));
  await symlink(join(root, 'latest.json'), join(root, 'alias.json'));
  server = await createStaticServer(root, { log: silentLogger });
  base = await listen(server, { host: '127.0.0.1', port: 0 });
});
after(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  await rm(dir, { recursive: true, force: true });
});

interface Res {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

function get(path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<Res> {
  return new Promise((resolve, reject) => {
    const u = new URL(base);
    const req = request({ host: u.hostname, port: u.port, path, method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

describe('serve: bodies and headers', () => {
  it('GET sends the whole file with an exact Content-Length and a strong ETag', async () => {
    const r = await get('/v1/vmlinuz');
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-length'], String(big.length));
    assert.equal(r.headers['accept-ranges'], 'bytes');
    assert.match(r.headers.etag!, /^"[0-9a-f-]+"$/);
    assert.deepEqual(r.body, big);
    const j = await get('/latest.json');
    assert.equal(j.headers['content-type'], 'application/json');
    assert.equal(j.body.toString(), '{"version":"v1"}\n');
  });

  it('HEAD sends the same headers and no body', async () => {
    const g = await get('/v1/vmlinuz');
    const h = await get('/v1/vmlinuz', {}, 'HEAD');
    assert.equal(h.status, 200);
    assert.equal(h.headers['content-length'], String(big.length));
    assert.equal(h.headers.etag, g.headers.etag);
    assert.equal(h.body.length, 0);
  });

  it('serves an empty file and follows symlinks that stay inside the root', async () => {
    const e = await get('/empty');
    assert.equal(e.status, 200);
    assert.equal(e.headers['content-length'], '0');
    const a = await get('/alias.json');
    assert.equal(a.status, 200);
    assert.equal(a.body.toString(), '{"version":"v1"}\n');
  });

  it('answers 304 to a matching If-None-Match', async () => {
    const g = await get('/latest.json');
    const r = await get('/latest.json', { 'If-None-Match': g.headers.etag! });
    assert.equal(r.status, 304);
    assert.equal(r.body.length, 0);
    assert.equal((await get('/latest.json', { 'If-None-Match': '"other"' })).status, 200);
  });
});

describe('serve: ranges', () => {
  it('sends one byte range with 206 and Content-Range', async () => {
    const r = await get('/v1/vmlinuz', { Range: 'bytes=10-19' });
    assert.equal(r.status, 206);
    assert.equal(r.headers['content-range'], `bytes 10-19/${big.length}`);
    assert.equal(r.headers['content-length'], '10');
    assert.deepEqual(r.body, big.subarray(10, 20));
  });

  it('handles open-ended, suffix and over-long ranges', async () => {
    const open = await get('/v1/vmlinuz', { Range: `bytes=${big.length - 100}-` });
    assert.equal(open.status, 206);
    assert.deepEqual(open.body, big.subarray(big.length - 100));
    const suffix = await get('/v1/vmlinuz', { Range: 'bytes=-7' });
    assert.equal(
      suffix.headers['content-range'],
      `bytes ${big.length - 7}-${big.length - 1}/${big.length}`,
    );
    assert.deepEqual(suffix.body, big.subarray(big.length - 7));
    const long = await get('/v1/vmlinuz', { Range: `bytes=5-${big.length * 2}` });
    assert.equal(long.headers['content-length'], String(big.length - 5));
    assert.deepEqual(long.body, big.subarray(5));
  });

  it('answers 416 with Content-Range: bytes */size for unsatisfiable ranges', async () => {
    for (const range of [`bytes=${big.length}-`, 'bytes=-0']) {
      const r = await get('/v1/vmlinuz', { Range: range });
      assert.equal(r.status, 416, range);
      assert.equal(r.headers['content-range'], `bytes */${big.length}`);
    }
  });

  it('ignores multiple, malformed and non-byte ranges (200 with the whole file)', async () => {
    for (const range of ['bytes=0-1,5-6', 'bytes=9-3', 'items=0-1', 'bytes=abc', 'bytes=-']) {
      const r = await get('/latest.json', { Range: range });
      assert.equal(r.status, 200, range);
      assert.equal(r.body.toString(), '{"version":"v1"}\n');
    }
  });

  it('honours If-Range only while the ETag (or date) still matches', async () => {
    const g = await get('/v1/vmlinuz', {}, 'HEAD');
    const same = await get('/v1/vmlinuz', { Range: 'bytes=0-3', 'If-Range': g.headers.etag! });
    assert.equal(same.status, 206);
    const date = await get('/v1/vmlinuz', {
      Range: 'bytes=0-3',
      'If-Range': g.headers['last-modified']!,
    });
    assert.equal(date.status, 206);
    const stale = await get('/v1/vmlinuz', { Range: 'bytes=0-3', 'If-Range': '"stale-etag"' });
    assert.equal(stale.status, 200);
    assert.equal(stale.body.length, big.length);
    const weak = await get('/v1/vmlinuz', {
      Range: 'bytes=0-3',
      'If-Range': `W/${g.headers.etag!}`,
    });
    assert.equal(weak.status, 200);
  });

  it('parseRange follows RFC 9110 §14.1.2', () => {
    assert.deepEqual(parseRange('bytes=0-0', 10), { start: 0, end: 0 });
    assert.deepEqual(parseRange('bytes=-20', 10), { start: 0, end: 9 });
    assert.equal(parseRange('bytes=0-', 0), 'unsatisfiable');
    assert.equal(parseRange('bytes=-5', 0), 'unsatisfiable');
    assert.equal(parseRange('bytes=', 10), undefined);
  });
});

describe('serve: what it refuses', () => {
  it('never leaves the root: dot segments, encoded traversal, dot files, symlinks out', async () => {
    for (const path of [
      '/../outside.txt',
      '/v1/../../outside.txt',
      '/%2e%2e/outside.txt',
      '/..%2foutside.txt',
      '/.secret',
      '/escape',
      '/v1',
      '/',
      '/missing',
      '/latest.json/x',
      '/%zz',
      '/a%00b',
    ]) {
      const r = await get(path);
      assert.equal(r.status, 404, path);
      assert.ok(!r.body.toString().includes('outside'), path);
    }
    assert.equal(resolveRequestPath('/srv', '/a//b/'), join('/srv', 'a', 'b'));
  });

  it('answers 405 to other methods', async () => {
    const r = await get('/latest.json', {}, 'PUT');
    assert.equal(r.status, 405);
    assert.equal(r.headers.allow, 'GET, HEAD');
  });

  it('refuses a missing directory', async () => {
    await assert.rejects(
      createStaticServer(join(dir, 'nope'), { log: silentLogger }),
      hasCode('SERVE_DIR_MISSING', 2),
    );
  });
});

describe('serve: files replaced while served', () => {
  it('a download in flight keeps the old bytes; the next request gets the new file and ETag', async () => {
    const root = join(dir, 'root');
    const before = await get('/v1/vmlinuz', {}, 'HEAD');
    const replacement = randomBytes(big.length);
    const body = await new Promise<Buffer>((resolve, reject) => {
      const u = new URL(base);
      const req = request(
        { host: u.hostname, port: u.port, path: '/v1/vmlinuz' },
        (res: IncomingMessage) => {
          const chunks: Buffer[] = [];
          let swapped = false;
          res.on('data', (c: Buffer) => {
            chunks.push(c);
            if (!swapped) {
              swapped = true;
              res.pause();
              // The way publish replaces files: write a temp file, rename it over.
              const tmp = join(root, 'v1', '.vmlinuz.tmp');
              writeFile(tmp, replacement)
                .then(() => rename(tmp, join(root, 'v1', 'vmlinuz')))
                .then(() => res.resume(), reject);
            }
          });
          res.on('end', () => resolve(Buffer.concat(chunks)));
        },
      );
      req.on('error', reject);
      req.end();
    });
    assert.deepEqual(body, big);
    const after = await get('/v1/vmlinuz');
    assert.notEqual(after.headers.etag, before.headers.etag);
    assert.deepEqual(after.body, replacement);
    // A resume that presents the old ETag must not splice: whole new file, 200.
    const resumed = await get('/v1/vmlinuz', {
      Range: 'bytes=100-',
      'If-Range': before.headers.etag!,
    });
    assert.equal(resumed.status, 200);
    assert.deepEqual(resumed.body, replacement);
  });
});

describe('listen', () => {
  it('parses HOST:PORT and [IPv6]:PORT and rejects the rest', () => {
    assert.deepEqual(parseListen('127.0.0.1:8080'), { host: '127.0.0.1', port: 8080 });
    assert.deepEqual(parseListen('[::1]:0'), { host: '::1', port: 0 });
    assert.deepEqual(parseListen('localhost:80'), { host: 'localhost', port: 80 });
    for (const bad of ['8080', '127.0.0.1', '127.0.0.1:99999', '::1:80', 'a:b']) {
      assert.throws(() => parseListen(bad), hasCode('INVALID_LISTEN', 2));
    }
  });

  it('listens on ::1 and reports a port in use as LISTEN_FAILED', async () => {
    const s6 = await createStaticServer(dir, { log: silentLogger });
    const url = await listen(s6, { host: '::1', port: 0 });
    assert.match(url, /^http:\/\/\[::1\]:\d+\/$/);
    const port = Number(new URL(url).port);
    const clash = await createStaticServer(dir, { log: silentLogger });
    await assert.rejects(listen(clash, { host: '::1', port }), hasCode('LISTEN_FAILED', 1));
    await new Promise((r) => s6.close(r));
  });
});
