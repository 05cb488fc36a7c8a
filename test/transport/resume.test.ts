/**
 * Resume (issue #4): an interrupted download continues from the staged partial file
 * with Range + If-Range and fetches only what is missing; a server that ignores
 * Range, a changed ETag, or a 416 restarts cleanly; the final SHA-256 always covers
 * the whole file.
 */
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { Agent } from 'undici';
import { hasCode } from '../helpers/rejects.js';
import { downloadToFile } from '../../src/transport/download/download.js';
import type { DownloadOptions } from '../../src/transport/download/transfer.js';
import {
  etagOf,
  sha256,
  stallAfter,
  staticFile,
  truncated,
  type Handler,
} from '../helpers/http-server.js';
import { newKeys, sig } from './fixtures.js';
import { useDownloadBench } from '../helpers/http-download.js';

const BODY = randomBytes(512 * 1024 + 7);
const CUT = 200_000;
const FAST = {
  retry: { attempts: 1, baseDelayMs: 5, maxDelayMs: 10 },
  idleTimeoutMs: 2000,
  headersTimeoutMs: 2000,
};

describe('resumable downloads', () => {
  const dispatcher = new Agent();
  const bench = useDownloadBench('ks-resume-', dispatcher, 'kubesolo-os.gz', BODY, FAST);
  const { dest, options: opts } = bench;

  /** First run: the connection drops after CUT bytes; the partial stays. */
  async function interrupted(extra: Partial<DownloadOptions> = {}): Promise<void> {
    bench.srv.route('/img', truncated(BODY, CUT));
    await assert.rejects(downloadToFile(opts('/img', extra)), hasCode('DOWNLOAD_TRUNCATED', 1));
    assert.equal((await stat(`${dest()}.part`)).size, CUT);
    bench.srv.requests.length = 0;
  }

  it('a later run resumes with Range + If-Range and fetches only the rest', async () => {
    await interrupted();
    bench.srv.route('/img', staticFile(BODY));
    const r = await downloadToFile(opts('/img'));
    assert.equal(bench.srv.requests.length, 1);
    assert.equal(bench.srv.requests[0]!.headers.range, `bytes=${CUT}-`);
    assert.equal(bench.srv.requests[0]!.headers['if-range'], etagOf(BODY));
    assert.equal(r.resumedFrom, CUT);
    assert.equal(r.bytesFetched, BODY.length - CUT);
    assert.equal(r.sha256, sha256(BODY));
    assert.deepEqual(await readFile(dest()), BODY);
    assert.deepEqual(
      (await readdir(bench.dir)).sort(),
      ['kubesolo-os.gz', 'kubesolo-os.gz.verified.json'],
      'sidecar replaced by the verified record',
    );
  });

  it('the streaming signature covers the resumed prefix too', async () => {
    const keys = newKeys();
    const signature = { signature: sig(BODY, keys.privateKey), publicKey: keys.raw };
    await interrupted({ signature });
    bench.srv.route('/img', staticFile(BODY));
    const r = await downloadToFile(opts('/img', { signature }));
    assert.equal(r.signatureVerified, true);
    assert.equal(r.resumedFrom, CUT);
  });

  it('retries within one run resume in place, without refetching', async () => {
    let n = 0;
    const cut = truncated(BODY, CUT);
    const ok = staticFile(BODY);
    bench.srv.route('/img', (req, res) => (n++ === 0 ? cut(req, res) : ok(req, res)));
    const r = await downloadToFile(
      opts('/img', { limits: { ...FAST, retry: { attempts: 3, baseDelayMs: 5, maxDelayMs: 10 } } }),
    );
    assert.equal(r.bytesFetched, BODY.length);
    assert.equal(bench.srv.requests[1]!.headers.range, `bytes=${CUT}-`);
    assert.deepEqual(await readFile(dest()), BODY);
  });

  it('Last-Modified is used for If-Range when there is no strong ETag', async () => {
    const lm = 'Wed, 21 Oct 2015 07:28:00 GMT';
    await writeFile(`${dest()}.part`, BODY.subarray(0, CUT));
    const sidecar = {
      url: bench.srv.url('/img'),
      sha256: sha256(BODY),
      size: BODY.length,
      etag: 'W/"weak"',
      lastModified: lm,
    };
    await writeFile(`${dest()}.part.json`, JSON.stringify(sidecar));
    bench.srv.route('/img', staticFile(BODY, { etag: 'W/"weak"', lastModified: lm }));
    const r = await downloadToFile(opts('/img'));
    assert.equal(bench.srv.requests[0]!.headers['if-range'], lm);
    assert.equal(r.resumedFrom, CUT);
    assert.deepEqual(await readFile(dest()), BODY);
  });

  it('a server that ignores Range (200) restarts cleanly from its full response', async () => {
    await interrupted();
    bench.srv.route('/img', staticFile(BODY, { ranges: false }));
    const r = await downloadToFile(opts('/img'));
    assert.equal(bench.srv.requests.length, 1, 'the 200 body is used, no second request');
    assert.equal(r.resumedFrom, 0);
    assert.equal(r.bytesFetched, BODY.length);
    assert.deepEqual(await readFile(dest()), BODY);
  });

  it('a restart also starts the signature check over (it covers only the new bytes)', async () => {
    const keys = newKeys();
    const signature = { signature: sig(BODY, keys.privateKey), publicKey: keys.raw };
    await interrupted({ signature });
    bench.srv.route('/img', staticFile(BODY, { ranges: false }));
    const r = await downloadToFile(opts('/img', { signature }));
    assert.equal(r.resumedFrom, 0);
    assert.equal(r.signatureVerified, true);
    assert.deepEqual(await readFile(dest()), BODY);
  });

  it('a changed ETag makes If-Range fail (200) and the download restarts', async () => {
    await interrupted();
    bench.srv.route('/img', staticFile(BODY, { etag: '"re-uploaded"' }));
    const r = await downloadToFile(opts('/img'));
    assert.equal(r.resumedFrom, 0);
    assert.equal(r.bytesFetched, BODY.length);
    assert.deepEqual(await readFile(dest()), BODY);
  });

  it('a 206 for another representation (ETag differs, If-Range ignored) restarts with a clean request', async () => {
    await interrupted();
    const honest = staticFile(BODY, { etag: '"other"' });
    const liar: Handler = (req, res) => {
      if (req.headers.range) {
        res.writeHead(206, {
          etag: '"other"',
          'content-range': `bytes ${CUT}-${BODY.length - 1}/${BODY.length}`,
          'content-length': BODY.length - CUT,
        });
        res.end(BODY.subarray(CUT));
        return;
      }
      return honest(req, res);
    };
    bench.srv.route('/img', liar);
    const r = await downloadToFile(opts('/img'));
    assert.equal(bench.srv.requests.length, 2);
    assert.equal(bench.srv.requests[1]!.headers.range, undefined);
    assert.equal(r.resumedFrom, 0);
    assert.deepEqual(await readFile(dest()), BODY);
  });

  it('416 Range Not Satisfiable restarts from 0', async () => {
    await interrupted();
    const honest = staticFile(BODY);
    bench.srv.route('/img', (req, res) => {
      if (req.headers.range) {
        res.writeHead(416, { 'content-range': `bytes */${BODY.length}` }).end();
        return;
      }
      return honest(req, res);
    });
    const r = await downloadToFile(opts('/img'));
    assert.equal(r.resumedFrom, 0);
    assert.deepEqual(await readFile(dest()), BODY);
  });

  it('a partial for other content (metadata changed) is discarded', async () => {
    await interrupted();
    const other = randomBytes(1000);
    bench.srv.route('/img', staticFile(other));
    const r = await downloadToFile(
      opts('/img', { expectedSha256: sha256(other), expectedSize: other.length }),
    );
    assert.equal(r.resumedFrom, 0);
    assert.equal(bench.srv.requests[0]!.headers.range, undefined);
    assert.deepEqual(await readFile(dest()), other);
  });

  it('a corrupt sidecar is ignored, never a crash', async () => {
    await interrupted();
    await writeFile(`${dest()}.part.json`, '{not json');
    bench.srv.route('/img', staticFile(BODY));
    const r = await downloadToFile(opts('/img'));
    assert.equal(r.resumedFrom, 0);
    assert.deepEqual(await readFile(dest()), BODY);
  });

  it('a corrupted partial is caught by the whole-file hash and deleted; the next run succeeds', async () => {
    await interrupted();
    const part = await readFile(`${dest()}.part`);
    part[10]! ^= 1;
    await writeFile(`${dest()}.part`, part);
    bench.srv.route('/img', staticFile(BODY));
    await assert.rejects(downloadToFile(opts('/img')), hasCode('HASH_MISMATCH', 4));
    assert.deepEqual(await readdir(bench.dir), []);
    assert.deepEqual(await readFile((await downloadToFile(opts('/img'))).path), BODY);
  });

  it('a complete partial (killed before the rename) is verified without any request', async () => {
    await writeFile(`${dest()}.part`, BODY);
    await writeFile(
      `${dest()}.part.json`,
      JSON.stringify({
        url: bench.srv.url('/img'),
        sha256: sha256(BODY),
        size: BODY.length,
        etag: etagOf(BODY),
      }),
    );
    const r = await downloadToFile(opts('/img'));
    assert.equal(bench.srv.requests.length, 0);
    assert.equal(r.bytesFetched, 0);
    assert.deepEqual(await readFile(dest()), BODY);
  });

  it('resume: false always starts over', async () => {
    await interrupted();
    bench.srv.route('/img', staticFile(BODY));
    const r = await downloadToFile(opts('/img', { resume: false }));
    assert.equal(r.resumedFrom, 0);
    assert.equal(bench.srv.requests[0]!.headers.range, undefined);
  });

  it('immutable content resumes without validators', async () => {
    bench.srv.route('/img', truncated(BODY, CUT, { etag: 'W/"x"' }));
    await assert.rejects(downloadToFile(opts('/img', { immutable: true })));
    bench.srv.route('/img', staticFile(BODY, { etag: null, lastModified: null }));
    bench.srv.requests.length = 0;
    const r = await downloadToFile(opts('/img', { immutable: true }));
    assert.equal(bench.srv.requests[0]!.headers.range, `bytes=${CUT}-`);
    assert.equal(bench.srv.requests[0]!.headers['if-range'], undefined);
    assert.equal(r.resumedFrom, CUT);
  });

  it('a download killed with SIGKILL resumes in the next process', async () => {
    // The server sends half and then nothing more, with the socket open: the child
    // cannot finish before the kill however fast or loaded the machine is. It is killed
    // once some of that half is on disk (what is still in memory is lost with it).
    const big = randomBytes(8 * 1024 * 1024);
    const sent = big.length / 2;
    bench.srv.route('/img', stallAfter(big, sent));
    const script = fileURLToPath(new URL('./child-download.ts', import.meta.url));
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', script, bench.srv.url('/img'), dest(), sha256(big), String(big.length)],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child.stdout.resume();
    child.stderr.on('data', (d: Buffer) => process.stderr.write(d));
    const exited = new Promise<void>((resolve, reject) => {
      child.on('exit', () => resolve());
      child.on('error', reject);
    });
    const onDisk = () =>
      stat(`${dest()}.part`).then(
        (s) => s.size,
        () => 0,
      );
    const deadline = Date.now() + 60_000;
    while ((await onDisk()) === 0) {
      if (Date.now() > deadline) throw new Error('the child wrote nothing to disk');
      await new Promise((r) => setTimeout(r, 20));
    }
    child.kill('SIGKILL');
    await exited;
    const partial = (await stat(`${dest()}.part`)).size;
    assert.ok(partial > 0 && partial <= sent, `partial ${partial}`);
    bench.srv.route('/img', staticFile(big));
    bench.srv.requests.length = 0;
    const r = await downloadToFile(
      opts('/img', { expectedSha256: sha256(big), expectedSize: big.length }),
    );
    assert.equal(r.resumedFrom, partial);
    assert.equal(r.resumedFrom + r.bytesFetched, big.length);
    assert.deepEqual(await readFile(dest()), big);
  });
});
