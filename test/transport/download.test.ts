/**
 * Hostile-server tests for downloadToFile (issue #4): each case asserts the reason
 * code, that nothing unverified is left at the destination, and that the staging
 * directory holds only a resumable partial file (with its sidecar) or nothing.
 */
import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Agent } from 'undici';
import { KubesoloError } from '../../src/errors.js';
import { downloadToFile } from '../../src/transport/download/download.js';
import { publicKeyBytes } from '../../src/crypto/keys.js';
import {
  endless,
  failTimes,
  redirect,
  sha256,
  silent,
  stallAfter,
  startServer,
  staticFile,
  status,
  trickle,
  truncated,
} from '../helpers/http-server.js';
import { newKeys, sig } from './fixtures.js';
import { hasCode, rejectsWithCode } from '../helpers/rejects.js';
import { useDownloadBench } from '../helpers/http-download.js';

const BODY = randomBytes(256 * 1024 + 123);
const FAST = {
  retry: { attempts: 1, baseDelayMs: 5, maxDelayMs: 10 },
  headersTimeoutMs: 1000,
  idleTimeoutMs: 1000,
  rateWindowMs: 1000,
  minBytesPerSecond: 0,
};

describe('downloadToFile against hostile servers', () => {
  const dispatcher = new Agent({ connect: { timeout: 1000 } });
  const bench = useDownloadBench('ks-dl-', dispatcher, 'vmlinuz', BODY, FAST);
  const { dest, options: opts } = bench;
  const staged = async (): Promise<string[]> => (await readdir(bench.dir)).sort();

  it('downloads, hashes and stages an honest file', async () => {
    bench.srv.route('/ok', staticFile(BODY));
    const progress: number[] = [];
    const r = await downloadToFile(opts('/ok', { onProgress: (n) => progress.push(n) }));
    assert.deepEqual(await readFile(dest()), BODY);
    assert.equal(r.sha256, sha256(BODY));
    assert.equal(r.size, BODY.length);
    assert.equal(r.bytesFetched, BODY.length);
    assert.equal(r.resumedFrom, 0);
    assert.equal(progress.at(-1), BODY.length);
    // The verified record lets a later call reuse the file instead of fetching it again.
    assert.deepEqual(await staged(), ['vmlinuz', 'vmlinuz.verified.json']);
    assert.equal((await stat(dest())).mode & 0o777, 0o600);
  });

  it('a verified file is reused by the next call for the same content, and only for it', async () => {
    bench.srv.route('/ok', staticFile(BODY));
    await downloadToFile(opts('/ok'));
    const before = bench.srv.requests.length;
    const again = await downloadToFile(opts('/ok'));
    assert.equal(bench.srv.requests.length, before, 'no request for a verified file');
    assert.equal(again.bytesFetched, 0);
    assert.equal(again.resumedFrom, BODY.length);
    assert.equal(again.sha256, sha256(BODY));
    // Another signature requirement than the one it was verified against: fetched again.
    const keys = newKeys();
    const s = sig(BODY, keys.privateKey);
    const signed = await downloadToFile(
      opts('/ok', { signature: { signature: s, publicKey: publicKeyBytes(keys.publicKey) } }),
    );
    assert.equal(signed.bytesFetched, BODY.length);
    assert.equal(signed.signatureVerified, true);
    // A file that no longer matches its record's size is not trusted either.
    await writeFile(dest(), BODY.subarray(0, 10));
    const refetched = await downloadToFile(opts('/ok'));
    assert.equal(refetched.bytesFetched, BODY.length);
    assert.deepEqual(await readFile(dest()), BODY);
  });

  it('tampered image: HASH_MISMATCH, nothing staged', async () => {
    const bad = Buffer.from(BODY);
    bad[12345]! ^= 0x80;
    bench.srv.route('/tampered', staticFile(bad));
    await assert.rejects(downloadToFile(opts('/tampered')), hasCode('HASH_MISMATCH', 4));
    assert.deepEqual(await staged(), []);
  });

  it('signature of another file: SIGNATURE_INVALID, nothing staged', async () => {
    const keys = newKeys();
    bench.srv.route('/img', staticFile(BODY));
    const signature = {
      signature: sig(Buffer.from('another file'), keys.privateKey),
      publicKey: keys.raw,
    };
    await assert.rejects(
      downloadToFile(opts('/img', { signature })),
      hasCode('SIGNATURE_INVALID', 4),
    );
    assert.deepEqual(await staged(), []);
  });

  it('wrong key: SIGNATURE_INVALID; right key: verified while streaming', async () => {
    const keys = newKeys();
    const other = newKeys();
    bench.srv.route('/img', staticFile(BODY));
    const s = sig(BODY, keys.privateKey);
    await assert.rejects(
      downloadToFile(opts('/img', { signature: { signature: s, publicKey: other.raw } })),
      hasCode('SIGNATURE_INVALID', 4),
    );
    assert.deepEqual(await staged(), []);
    const r = await downloadToFile(
      opts('/img', { signature: { signature: s, publicKey: publicKeyBytes(keys.publicKey) } }),
    );
    assert.equal(r.signatureVerified, true);
  });

  it('truncated body: DOWNLOAD_TRUNCATED, the partial is kept for resume', async () => {
    bench.srv.route('/cut', truncated(BODY, 100_000));
    await assert.rejects(downloadToFile(opts('/cut')), hasCode('DOWNLOAD_TRUNCATED', 1));
    assert.deepEqual(await staged(), ['vmlinuz.part', 'vmlinuz.part.json']);
    assert.equal((await stat(join(bench.dir, 'vmlinuz.part'))).size, 100_000);
  });

  it('a short but complete response (declared size larger) is DOWNLOAD_SIZE_MISMATCH, exit 4, nothing staged', async () => {
    bench.srv.route('/short', staticFile(BODY.subarray(0, 1000)));
    await assert.rejects(downloadToFile(opts('/short')), hasCode('DOWNLOAD_SIZE_MISMATCH', 4));
    assert.deepEqual(await staged(), []);
  });

  it('body longer than declared (Content-Length): DOWNLOAD_TOO_LARGE before reading, nothing staged', async () => {
    bench.srv.route('/long', staticFile(Buffer.concat([BODY, Buffer.alloc(10)])));
    await assert.rejects(downloadToFile(opts('/long')), hasCode('DOWNLOAD_TOO_LARGE', 4));
    assert.deepEqual(await staged(), []);
  });

  it('body longer than declared (chunked, no length): cut off one byte past the size', async () => {
    bench.srv.route('/chunked-long', (_req, res) => {
      res.writeHead(200); // no Content-Length: chunked
      res.write(BODY);
      res.end(Buffer.alloc(4096));
    });
    const e = await rejectsWithCode(downloadToFile(opts('/chunked-long')), 'DOWNLOAD_TOO_LARGE', 4);
    const d = e.details;
    assert.equal(d.limit, BODY.length);
    assert.ok((d.received as number) > BODY.length);
    assert.deepEqual(await staged(), []);
  });

  it('endless body without a declared size: stopped at maxBytes, nothing staged', async () => {
    bench.srv.route('/endless', endless());
    const started = Date.now();
    await assert.rejects(
      downloadToFile(
        opts('/endless', { expectedSize: undefined, limits: { maxBytes: 2 * 1024 * 1024 } }),
      ),
      hasCode('DOWNLOAD_TOO_LARGE', 4),
    );
    assert.ok(Date.now() - started < 20_000, 'stopped at the cap, not endless');
    assert.deepEqual(await staged(), []);
  });

  it('server stalls after some bytes: DOWNLOAD_TIMEOUT (body), partial kept', async () => {
    bench.srv.route('/stall', stallAfter(BODY, 50_000));
    const e = await rejectsWithCode(
      downloadToFile(opts('/stall', { limits: { idleTimeoutMs: 300 } })),
      'DOWNLOAD_TIMEOUT',
      1,
    );
    assert.equal(e.details.phase, 'body');
    assert.deepEqual(await staged(), ['vmlinuz.part', 'vmlinuz.part.json']);
  });

  it('a stalled partial without ETag or Last-Modified cannot be resumed safely: deleted', async () => {
    bench.srv.route('/stall-novalidator', stallAfter(BODY, 50_000, { etag: null }));
    await assert.rejects(
      downloadToFile(opts('/stall-novalidator', { limits: { idleTimeoutMs: 300 } })),
      hasCode('DOWNLOAD_TIMEOUT', 1),
    );
    assert.deepEqual(await staged(), []);
  });

  it('server never answers: DOWNLOAD_TIMEOUT (headers), nothing staged', async () => {
    bench.srv.route('/silent', silent());
    const e = await rejectsWithCode(
      downloadToFile(opts('/silent', { limits: { headersTimeoutMs: 300 } })),
      'DOWNLOAD_TIMEOUT',
      1,
    );
    assert.equal(e.details.phase, 'headers');
    assert.deepEqual(await staged(), []);
  });

  it('server trickles one byte per tick: DOWNLOAD_TOO_SLOW from the sliding-window guard', async () => {
    // 1 byte every 100 ms never trips a 1 s idle timeout; 10 B/s < 1000 B/s minimum.
    bench.srv.route('/trickle', trickle(BODY, 1, 100));
    const started = Date.now();
    const e = await rejectsWithCode(
      downloadToFile(opts('/trickle', { limits: { minBytesPerSecond: 1000, rateWindowMs: 600 } })),
      'DOWNLOAD_TOO_SLOW',
      1,
    );
    assert.ok((e.details.rate as number) < 1000);
    assert.ok(Date.now() - started < 15_000, 'stopped by the guard, not by the 7-hour body');
    assert.deepEqual(await staged(), ['vmlinuz.part', 'vmlinuz.part.json']);
  });

  it('the deadline bounds the whole download and is not retried', async () => {
    bench.srv.route('/trickle-deadline', trickle(BODY, 1000, 50));
    await assert.rejects(
      downloadToFile(
        opts('/trickle-deadline', {
          limits: { deadlineMs: 400, retry: { attempts: 5, baseDelayMs: 5, maxDelayMs: 10 } },
        }),
      ),
      (e: unknown) => {
        hasCode('DOWNLOAD_TIMEOUT', 1)(e);
        assert.equal((e as KubesoloError).details.phase, 'deadline');
        return true;
      },
    );
    assert.equal(bench.srv.requests.length, 1);
  });

  it('500 then success: retried with backoff, file staged', async () => {
    bench.srv.route('/flaky', failTimes(2, 500, staticFile(BODY)));
    const r = await downloadToFile(
      opts('/flaky', { limits: { retry: { attempts: 4, baseDelayMs: 5, maxDelayMs: 20 } } }),
    );
    assert.equal(r.attempts, 3);
    assert.equal(bench.srv.requests.length, 3);
    assert.deepEqual(await readFile(dest()), BODY);
  });

  it('429 with Retry-After and 408 are retried; 404 and 403 are not', async () => {
    bench.srv.route('/429', failTimes(1, 429, staticFile(BODY), { 'retry-after': '0' }));
    bench.srv.route('/408', failTimes(1, 408, staticFile(BODY)));
    const retry = { attempts: 3, baseDelayMs: 5, maxDelayMs: 20 };
    await downloadToFile(opts('/429', { limits: { retry } }));
    await downloadToFile(opts('/408', { limits: { retry } }));
    bench.srv.route('/404', status(404));
    bench.srv.route('/403', status(403));
    bench.srv.requests.length = 0;
    for (const p of ['/404', '/403']) {
      const e = await rejectsWithCode(
        downloadToFile(opts(p, { limits: { retry } })),
        'HTTP_STATUS',
        1,
      );
      assert.equal(e.details.status, Number(p.slice(1)));
    }
    assert.equal(bench.srv.requests.length, 2, 'one request each');
    assert.deepEqual(await staged(), []);
  });

  it('persistent 503: gives up after the attempts with HTTP_STATUS', async () => {
    bench.srv.route('/down', status(503));
    await assert.rejects(
      downloadToFile(
        opts('/down', { limits: { retry: { attempts: 3, baseDelayMs: 5, maxDelayMs: 10 } } }),
      ),
      hasCode('HTTP_STATUS', 1),
    );
    assert.equal(bench.srv.requests.length, 3);
  });

  it('redirect loop: TOO_MANY_REDIRECTS after the limit', async () => {
    bench.srv.route('/loop-a', redirect('/loop-b'));
    bench.srv.route('/loop-b', redirect('/loop-a', 301));
    await assert.rejects(
      downloadToFile(opts('/loop-a', { limits: { maxRedirects: 4 } })),
      hasCode('TOO_MANY_REDIRECTS', 1),
    );
    assert.equal(bench.srv.requests.length, 5);
    assert.deepEqual(await staged(), []);
  });

  it('follows redirects within the limit, and refuses non-HTTP targets', async () => {
    bench.srv.route('/r1', redirect('/r2', 307));
    bench.srv.route('/r2', redirect(bench.srv.url('/file'), 308));
    bench.srv.route('/file', staticFile(BODY));
    assert.equal((await downloadToFile(opts('/r1'))).size, BODY.length);
    bench.srv.route('/to-file', redirect('file:///etc/passwd'));
    await assert.rejects(downloadToFile(opts('/to-file')), hasCode('BAD_REDIRECT', 1));
  });

  it('drops Authorization on a cross-origin redirect, keeps it on the same origin', async () => {
    const other = await startServer({ '/blob': staticFile(BODY) });
    try {
      bench.srv.route('/same', redirect('/file'));
      bench.srv.route('/file', staticFile(BODY));
      bench.srv.route('/cross', redirect(other.url('/blob')));
      const headers = { authorization: 'Bearer secret' };
      await downloadToFile(opts('/same', { headers }));
      assert.equal(
        bench.srv.requests.find((r) => r.path === '/file')?.headers.authorization,
        'Bearer secret',
      );
      await downloadToFile(opts('/cross', { headers }));
      assert.equal(
        bench.srv.requests.find((r) => r.path === '/cross')?.headers.authorization,
        'Bearer secret',
      );
      assert.equal(other.requests[0]?.headers.authorization, undefined);
    } finally {
      await other.close();
    }
  });

  it('connection refused: NETWORK_ERROR, retried, nothing staged', async () => {
    const gone = await startServer({});
    const url = gone.url('/x');
    await gone.close();
    await assert.rejects(
      downloadToFile({
        ...opts('/x'),
        url,
        limits: { ...FAST, retry: { attempts: 2, baseDelayMs: 5, maxDelayMs: 10 } },
      }),
      hasCode('NETWORK_ERROR', 1),
    );
    assert.deepEqual(await staged(), []);
  });

  it('an AbortSignal stops the download with DOWNLOAD_ABORTED and keeps the partial', async () => {
    // 10 kB per 50 ms: the body takes over a second, and the first progress call (on
    // the first chunk) aborts, so the abort always lands mid-transfer even under load.
    bench.srv.route('/slow', trickle(BODY, 10_000, 50));
    const ac = new AbortController();
    const p = downloadToFile(
      opts('/slow', { signal: ac.signal, onProgress: (n) => n > 0 && ac.abort() }),
    );
    await assert.rejects(p, hasCode('DOWNLOAD_ABORTED', 1));
    assert.deepEqual(await staged(), ['vmlinuz.part', 'vmlinuz.part.json']);
  });

  it('an unwritable staging directory is STAGING_IO_ERROR, never a crash', async () => {
    bench.srv.route('/ok', staticFile(BODY));
    await writeFile(join(bench.dir, 'blocker'), 'x');
    await assert.rejects(
      downloadToFile(opts('/ok', { dest: join(bench.dir, 'blocker', 'vmlinuz') })),
      hasCode('STAGING_IO_ERROR', 1),
    );
  });
});
