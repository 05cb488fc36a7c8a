import { strict as assert } from 'node:assert';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { checkProbeUrl } from '../../src/health/probe.js';
import { assertCode } from '../helpers/code-assert.js';
import { assertVerdicts } from '../helpers/code-verdicts.js';

let server: Server;
let base: string;
const hits: string[] = [];

before(async () => {
  server = createServer((req, res) => {
    const path = req.url ?? '/';
    hits.push(path);
    if (path === '/healthz') return res.end('ok');
    if (path === '/fail') {
      res.statusCode = 503;
      return res.end('not yet');
    }
    if (path === '/created') {
      res.statusCode = 204;
      return res.end();
    }
    if (path === '/hop') {
      res.writeHead(302, { location: '/healthz' });
      return res.end();
    }
    if (path === '/loop') {
      res.writeHead(307, { location: '/loop' });
      return res.end();
    }
    if (path === '/to-ftp') {
      res.writeHead(301, { location: 'ftp://127.0.0.1/x' });
      return res.end();
    }
    if (path === '/hang') return; // never answers
    res.statusCode = 404;
    res.end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => {
  server.closeAllConnections();
  server.close();
});

describe('probe_url check', () => {
  it('passes on HTTP 200', async () => {
    const o = await checkProbeUrl(`${base}/healthz`, 2000);
    assertVerdicts(`${o.verdict}:${o.reason}`, 'pass:OK');
  });

  it('fails on any other status, 204 included (the contract is 200)', async () => {
    const o = await checkProbeUrl(`${base}/fail`, 2000);
    assertVerdicts(`${o.verdict}:${o.reason}`, 'fail:PROBE_HTTP_STATUS');
    assert.match(o.message, /HTTP 503/);
    assertCode((await checkProbeUrl(`${base}/created`, 2000)).reason, 'PROBE_HTTP_STATUS');
  });

  it('follows redirects to a 200, and gives up on loops and non-HTTP targets', async () => {
    hits.length = 0;
    assert.equal((await checkProbeUrl(`${base}/hop`, 2000)).verdict, 'pass');
    assert.deepEqual(hits, ['/hop', '/healthz']);
    hits.length = 0;
    assertCode((await checkProbeUrl(`${base}/loop`, 2000)).reason, 'PROBE_TOO_MANY_REDIRECTS');
    assert.equal(hits.length, 6);
    assertCode((await checkProbeUrl(`${base}/to-ftp`, 2000)).reason, 'PROBE_URL_INVALID');
  });

  // The message names the deadline that fired; the test's timeout catches a hang.
  it(
    'fails with PROBE_TIMEOUT when the server does not answer in time',
    { timeout: 30_000 },
    async () => {
      const t0 = performance.now();
      const o = await checkProbeUrl(`${base}/hang`, 200);
      assertCode(o.reason, 'PROBE_TIMEOUT');
      assert.match(o.message, /within 200 ms/);
      assert.ok(performance.now() - t0 >= 150);
    },
  );

  it('fails with PROBE_UNREACHABLE when nothing listens, PROBE_URL_INVALID for a bad URL', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const o = await checkProbeUrl(`http://127.0.0.1:${port}/`, 2000);
    assertCode(o.reason, 'PROBE_UNREACHABLE');
    assert.match(o.message, /ECONNREFUSED/);
    assertCode((await checkProbeUrl('not a url', 2000)).reason, 'PROBE_URL_INVALID');
    assertCode((await checkProbeUrl('file:///etc/passwd', 2000)).reason, 'PROBE_URL_INVALID');
  });
});
