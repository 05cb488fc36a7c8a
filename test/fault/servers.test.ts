/**
 * Issue 13, finding 6 (servers): `kubesolo-release serve` serves only regular files and
 * never blocks on one (a FIFO used to hang every client and SIGTERM); the metrics
 * server answers only GET/HEAD and drops connections whose headers never finish.
 */
import { strict as assert } from 'node:assert';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { AGENT_BIN, RELEASE_BIN } from '../helpers/cli.js';
import { makeDevice, type Device } from '../helpers/device.js';
import { useTempDir } from '../helpers/tree.js';

/** Start a long-running command and wait for the URL it logs. */
async function startListening(args: string[]): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let seen = '';
  const url = await new Promise<string>((resolve, reject) => {
    const onData = (d: Buffer) => {
      seen += d.toString();
      const m = /http:\/\/127\.0\.0\.1:\d+\/?/.exec(seen);
      if (m) resolve(m[0]);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', () => reject(new Error(`exited early: ${seen}`)));
  });
  return { child, url };
}

function exitOf(child: ChildProcess): Promise<number | null> {
  return new Promise((r) => child.once('exit', (code) => r(code)));
}

/** Resolves with how long (ms) the server took to close a connection whose headers never end. */
/**
 * Open a request whose headers never end and time until the server closes it. With
 * `trickle`, a header line goes out every 300 ms, so the connection is never idle.
 */
function slowHeaders(url: string, trickle = false): Promise<number> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const started = Date.now();
    let timer: NodeJS.Timeout | undefined;
    const s = connect(Number(port), hostname, () => {
      s.write('GET /metrics HTTP/1.1\r\nHost: x\r\n');
      if (trickle) timer = setInterval(() => s.write('X-Trickle: 1\r\n'), 300);
    });
    s.on('close', () => clearInterval(timer));
    s.on('error', () => undefined);
    // Read (and drop) the server's 408 answer: an unread socket never sees its end, so
    // 'close' would never come. A server that never closes still ends the test at 30 s.
    s.resume();
    s.setTimeout(30_000, () => s.destroy());
    s.on('close', () => resolve(Date.now() - started));
  });
}

describe('kubesolo-release serve with a FIFO in the served directory', () => {
  const tmp = useTempDir('ks-serve-fifo-', 'all');
  before(async () => {
    await writeFile(tmp.path('latest.json'), '{}\n');
    execFileSync('mkfifo', [tmp.path('pipe')]);
  });

  it('answers 404 for the FIFO, keeps serving files, and stops on SIGTERM', async () => {
    const { child, url } = await startListening([
      RELEASE_BIN,
      'serve',
      tmp.dir,
      '--listen',
      '127.0.0.1:0',
    ]);
    const exited = exitOf(child);
    try {
      // More requests than libuv has pool threads (4): before, each one blocked a thread.
      const fifo = await Promise.all(
        Array.from({ length: 6 }, () =>
          fetch(new URL('pipe', url), { signal: AbortSignal.timeout(5000) }),
        ),
      );
      assert.deepEqual(
        fifo.map((r) => r.status),
        [404, 404, 404, 404, 404, 404],
      );
      const ok = await fetch(new URL('latest.json', url), { signal: AbortSignal.timeout(5000) });
      assert.equal(ok.status, 200);
    } finally {
      child.kill('SIGTERM');
    }
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    assert.equal(await exited, 0);
    clearTimeout(timer);
  });
});

describe('metrics --listen', () => {
  let dev: Device;
  let child: ChildProcess;
  let url: string;
  before(async () => {
    dev = await makeDevice();
    ({ child, url } = await startListening([
      AGENT_BIN,
      'metrics',
      '--listen',
      '127.0.0.1:0',
      '--root',
      dev.root,
    ]));
  });
  after(async () => {
    child.kill('SIGTERM');
    await exitOf(child);
    await dev.cleanup();
  });

  it('answers GET and HEAD, and 405 to anything else (before: POST got 200)', async () => {
    const metrics = new URL('metrics', url);
    assert.equal((await fetch(metrics)).status, 200);
    const head = await fetch(metrics, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(await head.text(), '');
    for (const method of ['POST', 'PUT', 'DELETE']) {
      const r = await fetch(metrics, { method, body: method === 'DELETE' ? null : 'x' });
      assert.equal(r.status, 405, method);
      assert.equal(r.headers.get('allow'), 'GET, HEAD');
    }
  });

  it('closes a connection whose headers never finish (before: held open)', async () => {
    const ms = await slowHeaders(url);
    // headersTimeout is 5 s, checked every second.
    assert.ok(ms >= 4000 && ms < 15_000, `closed after ${ms} ms`);
  });

  it('closes a connection that trickles header lines, on the same 5 s limit', async () => {
    const ms = await slowHeaders(url, true);
    // Measured from the first header byte, not reset by each new line (docs/operating.md).
    assert.ok(ms >= 4000 && ms < 15_000, `closed after ${ms} ms`);
  });
});
