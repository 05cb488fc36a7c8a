/**
 * The OCI client on the transport's one HTTP stack, against real loopback servers:
 * a storage URL with a signed query string never reaches a log line or an error
 * unredacted (src/transport/errors.ts `redactUrl`), and 429/503 answers with
 * Retry-After are waited out as the downloads do (src/transport/retry.ts).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { PassThrough } from 'node:stream';
import { KubesoloError } from '../../src/errors.js';
import { createLogger, silentLogger } from '../../src/log.js';
import { OciClient } from '../../src/transport/oci/client.js';
import { OCI_INDEX } from '../../src/transport/oci/media-types.js';
import { parseRegistryReference } from '../../src/transport/oci/reference.js';
import { startServer, type Handler, type TestServer } from '../helpers/http-server.js';
import { hasCode } from '../helpers/rejects.js';

/** A JSON-lines logger whose every line is kept. */
function capturingLogger() {
  const stream = new PassThrough();
  let text = '';
  stream.on('data', (d: Buffer) => (text += d.toString('utf8')));
  return { log: createLogger({ level: 'debug', json: true, stream }), text: () => text };
}

/** The rejection of `p`, which must be a KubesoloError. */
async function rejection(p: Promise<unknown>): Promise<KubesoloError> {
  let err: unknown;
  await assert.rejects(p, (e) => {
    err = e;
    return e instanceof KubesoloError;
  });
  return err as KubesoloError;
}

const SECRET = 'X-Amz-Signature=s3cr3t-signature&X-Amz-Credential=AKIA-secret';
const digestOf = (b: string) => 'sha256:' + createHash('sha256').update(b).digest('hex');
const blobPath = (digest: string) => `/v2/a/b/blobs/${digest}`;

describe('OCI client: redaction of redirected storage URLs', () => {
  let registry: TestServer;
  let storage: TestServer;
  before(async () => {
    registry = await startServer({});
    storage = await startServer({});
  });
  after(async () => {
    await registry.close();
    await storage.close();
  });

  const client = (log: ReturnType<typeof capturingLogger>['log']) =>
    new OciClient({
      ref: parseRegistryReference(`${registry.origin.slice('http://'.length)}/a/b`),
      retry: { attempts: 2, baseDelayMs: 1, maxDelayMs: 5 },
      log,
    });

  it('a storage backend that fails after the redirect: REGISTRY_ERROR, no query string in the error or the logs', async () => {
    const digest = digestOf('x');
    registry.route(
      blobPath(digest),
      (_q, res) =>
        void res.writeHead(307, { location: storage.url(`/bucket/blob?${SECRET}`) }).end(),
    );
    storage.route('/bucket/blob', (_q, res) => void res.writeHead(503).end('busy'));
    const captured = capturingLogger();
    const err = await rejection(client(captured.log).getSmallBlob(digest, 1024));
    hasCode('REGISTRY_ERROR', 1)(err);
    // The retry happened (so there was a log line to leak into) ...
    assert.match(captured.text(), /retrying/);
    assert.ok(storage.requests.length >= 2, 'the storage URL was retried');
    // ... and the signed query string is in neither.
    const exposed = [err.message, JSON.stringify(err.details), captured.text()].join('\n');
    assert.doesNotMatch(exposed, /s3cr3t|AKIA/);
    assert.equal(err.details.url, storage.url('/bucket/blob?…'));
  });

  it('a storage backend that cannot be reached: REGISTRY_UNREACHABLE, no query string in the error or the logs', async () => {
    const dead = await startServer({});
    const deadUrl = dead.url(`/bucket/blob?${SECRET}`);
    await dead.close();
    const digest = digestOf('y');
    registry.route(
      blobPath(digest),
      (_q, res) => void res.writeHead(302, { location: deadUrl }).end(),
    );
    const captured = capturingLogger();
    const err = await rejection(client(captured.log).locateBlob(digest));
    hasCode('REGISTRY_UNREACHABLE', 1)(err);
    assert.match(captured.text(), /retrying/);
    const exposed = [
      err.message,
      JSON.stringify(err.details),
      err.cause instanceof Error ? err.cause.message : '',
      captured.text(),
    ].join('\n');
    assert.doesNotMatch(exposed, /s3cr3t|AKIA/);
  });
});

describe('OCI client: Retry-After on 429 and 503', () => {
  let registry: TestServer;
  /** When each manifest request arrived (ms, monotonic). */
  const arrivals: number[] = [];
  before(async () => {
    registry = await startServer({});
  });
  after(() => registry.close());

  const index = JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] });
  /** The first answer is `first`, then the index. */
  function answerFirstWith(first: Handler): void {
    arrivals.length = 0;
    registry.route('/v2/a/b/manifests/v1', (req, res) => {
      arrivals.push(performance.now());
      if (arrivals.length === 1) void first(req, res);
      else res.writeHead(200, { 'content-type': OCI_INDEX }).end(index);
    });
  }
  const client = (log = silentLogger) =>
    new OciClient({
      log,
      ref: parseRegistryReference(`${registry.origin.slice('http://'.length)}/a/b`),
      // Without Retry-After the pause would be about 1 ms.
      retry: { attempts: 2, baseDelayMs: 1, maxDelayMs: 5000 },
    });

  for (const status of [429, 503]) {
    it(`${status} with Retry-After: 1 is retried after a second, then succeeds`, async () => {
      answerFirstWith((_q, res) => void res.writeHead(status, { 'retry-after': '1' }).end());
      const m = await client().getManifest('v1');
      assert.equal(m.mediaType, OCI_INDEX);
      assert.equal(arrivals.length, 2);
      const waited = arrivals[1]! - arrivals[0]!;
      assert.ok(waited >= 950, `waited ${Math.round(waited)} ms, Retry-After said 1 s`);
    });
  }

  it('without Retry-After the retry is the backoff (here at most 1 ms)', async () => {
    answerFirstWith((_q, res) => void res.writeHead(503).end());
    const captured = capturingLogger();
    await client(captured.log).getManifest('v1');
    assert.equal(arrivals.length, 2);
    // The pause the retry chose, from its log line, not the wall clock (which a loaded
    // machine stretches): the backoff's, baseDelayMs 1 for a first retry, not a
    // Retry-After's second.
    const retries = captured
      .text()
      .split('\n')
      .filter((l) => l.includes('retrying'))
      .map((l) => JSON.parse(l) as { delay_ms: number });
    assert.equal(retries.length, 1);
    assert.ok(retries[0]!.delay_ms <= 1, `delay_ms ${retries[0]!.delay_ms}`);
  });
});
