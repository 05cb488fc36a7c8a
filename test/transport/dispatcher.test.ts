/** HTTPS with a private CA file, and HTTP(S)_PROXY / NO_PROXY, on loopback servers. */
import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createDispatcher } from '../../src/transport/dispatcher.js';
import { downloadToFile } from '../../src/transport/download/download.js';
import { fetchBytes } from '../../src/transport/http.js';
import { createHttpUpdateSource } from '../../src/transport/http-source.js';
import {
  makeSelfSignedCert,
  sha256,
  startConnectProxy,
  startServer,
  staticFile,
  type TestServer,
} from '../helpers/http-server.js';
import { makeRelease } from './fixtures.js';
import { silentLogger } from '../../src/log.js';
import { hasCode } from '../helpers/rejects.js';

const BODY = randomBytes(100_000);

describe('custom CA file (ca_file)', () => {
  let dir: string;
  let tls: ReturnType<typeof makeSelfSignedCert>;
  let srv: TestServer;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ks-tls-'));
    tls = makeSelfSignedCert(dir);
    srv = await startServer(
      { '/img': staticFile(BODY) },
      { tls: { key: tls.key, cert: tls.cert } },
    );
  });
  after(async () => {
    await srv.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('refuses a private server without the CA (NETWORK_ERROR) and trusts it with the CA file', async () => {
    const plain = createDispatcher({ env: {} });
    await assert.rejects(
      fetchBytes(srv.url('/img'), { dispatcher: plain, maxBytes: 1e6 }),
      hasCode('NETWORK_ERROR', 1),
    );
    await plain.close();
    const withCa = createDispatcher({ caFile: tls.certFile, env: {} });
    const r = await downloadToFile({
      log: silentLogger,
      url: srv.url('/img'),
      dest: join(dir, 'img'),
      dispatcher: withCa,
      expectedSha256: sha256(BODY),
    });
    assert.equal(r.size, BODY.length);
    await withCa.close();
  });

  it('the update source takes caFile end to end', async () => {
    const fixture = makeRelease();
    const https = await startServer(fixture.routes, { tls: { key: tls.key, cert: tls.cert } });
    try {
      const source = createHttpUpdateSource({
        log: silentLogger,
        metadataUrl: https.url('/latest.json'),
        allowUnsigned: true, // a lab: no key, hashes only
        caFile: tls.certFile,
        env: {},
      });
      const release = await source.fetchRelease();
      const staged = await source.stage(release, 'vmlinuz', { stagingDir: join(dir, 'staging') });
      assert.deepEqual(await readFile(staged.path), fixture.vmlinuz);
      await source.close();
    } finally {
      await https.close();
    }
  });

  it('reports a missing or non-PEM CA file as a ConfigError', async () => {
    assert.throws(
      () => createDispatcher({ caFile: join(dir, 'nope.pem') }),
      hasCode('CA_FILE_UNREADABLE', 2),
    );
    const junk = join(dir, 'junk.pem');
    await writeFile(junk, 'hello');
    assert.throws(() => createDispatcher({ caFile: junk }), hasCode('CA_FILE_INVALID', 2));
  });
});

describe('HTTPS_PROXY / HTTP_PROXY / NO_PROXY', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startServer({ '/img': staticFile(BODY) });
  });
  after(async () => {
    await srv.close();
  });

  it('tunnels through the proxy named by HTTP_PROXY', async () => {
    const proxy = await startConnectProxy();
    try {
      const d = createDispatcher({ env: { HTTP_PROXY: proxy.url } });
      const bytes = await fetchBytes(srv.url('/img'), { dispatcher: d, maxBytes: 1e6 });
      assert.equal(bytes.length, BODY.length);
      assert.deepEqual(proxy.connects, [`127.0.0.1:${srv.port}`]);
      await d.close();
    } finally {
      await proxy.close();
    }
  });

  it('lowercase http_proxy is read, and NO_PROXY bypasses the proxy', async () => {
    const proxy = await startConnectProxy();
    try {
      const d = createDispatcher({ env: { http_proxy: proxy.url, NO_PROXY: '127.0.0.1' } });
      const bytes = await fetchBytes(srv.url('/img'), { dispatcher: d, maxBytes: 1e6 });
      assert.equal(bytes.length, BODY.length);
      assert.deepEqual(proxy.connects, [], 'NO_PROXY host went direct');
      await d.close();
    } finally {
      await proxy.close();
    }
  });

  it('a dead proxy is a NETWORK_ERROR, not a hang', async () => {
    const proxy = await startConnectProxy();
    const url = proxy.url;
    await proxy.close();
    const d = createDispatcher({
      env: { HTTPS_PROXY: url, HTTP_PROXY: url },
      connectTimeoutMs: 1000,
    });
    await assert.rejects(
      fetchBytes(srv.url('/img'), { dispatcher: d, maxBytes: 1e6 }),
      hasCode('NETWORK_ERROR', 1),
    );
    await d.close();
  });
});
