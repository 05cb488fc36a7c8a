/**
 * The OCI client on the transport's one HTTP stack, against real loopback servers:
 * a storage URL with a signed query string never reaches a log line or an error
 * unredacted (src/transport/errors.ts `redactUrl`), and 429/503 answers with
 * Retry-After are waited out as the downloads do (src/transport/retry.ts).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import { KubesoloError } from '../../src/errors.js';
import { createLogger } from '../../src/log.js';
import { OciClient } from '../../src/transport/oci/client.js';
import { OCI_INDEX } from '../../src/transport/oci/media-types.js';
import { parseRegistryReference } from '../../src/transport/oci/reference.js';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

interface Loopback {
  host: string;
  handler: Handler;
  /** When each request arrived (ms, monotonic). */
  arrivals: number[];
  close(): Promise<void>;
}

async function loopback(): Promise<Loopback> {
  const lb: Loopback = {
    host: '',
    handler: (_q, res) => res.writeHead(404).end(),
    arrivals: [],
    close: async () => {},
  };
  const server: Server = createServer((req, res) => {
    lb.arrivals.push(performance.now());
    req.resume();
    req.on('end', () => lb.handler(req, res));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  lb.host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  lb.close = () =>
    new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    });
  return lb;
}

/** A JSON-lines logger whose every line is kept. */
function capturingLogger() {
  const stream = new PassThrough();
  let text = '';
  stream.on('data', (d: Buffer) => (text += d.toString('utf8')));
  return { log: createLogger({ level: 'debug', json: true, stream }), text: () => text };
}

async function caught(p: Promise<unknown>): Promise<KubesoloError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof KubesoloError, String(err));
    return err;
  }
  assert.fail('expected a rejection');
}

const SECRET = 'X-Amz-Signature=s3cr3t-signature&X-Amz-Credential=AKIA-secret';
const digestOf = (b: string) => 'sha256:' + createHash('sha256').update(b).digest('hex');

describe('OCI client: redaction of redirected storage URLs', () => {
  let registry: Loopback;
  let storage: Loopback;
  before(async () => {
    registry = await loopback();
    storage = await loopback();
  });
  after(async () => {
    await registry.close();
    await storage.close();
  });

  const client = (log: ReturnType<typeof capturingLogger>['log']) =>
    new OciClient({
      ref: parseRegistryReference(`${registry.host}/a/b`),
      retry: { attempts: 2, baseDelayMs: 1, maxDelayMs: 5 },
      log,
    });

  it('a storage backend that fails after the redirect: REGISTRY_ERROR, no query string in the error or the logs', async () => {
    registry.handler = (_q, res) =>
      res.writeHead(307, { location: `http://${storage.host}/bucket/blob?${SECRET}` }).end();
    storage.handler = (_q, res) => res.writeHead(503).end('busy');
    const captured = capturingLogger();
    const err = await caught(client(captured.log).getSmallBlob(digestOf('x'), 1024));
    assert.equal(err.code, 'REGISTRY_ERROR');
    assert.equal(err.exitCode, 1);
    // The retry happened (so there was a log line to leak into) ...
    assert.match(captured.text(), /retrying/);
    assert.ok(storage.arrivals.length >= 2, 'the storage URL was retried');
    // ... and the signed query string is in neither.
    const exposed = [err.message, JSON.stringify(err.details), captured.text()].join('\n');
    assert.doesNotMatch(exposed, /s3cr3t|AKIA/);
    assert.equal(err.details.url, `http://${storage.host}/bucket/blob?…`);
  });

  it('a storage backend that cannot be reached: REGISTRY_UNREACHABLE, no query string in the error or the logs', async () => {
    const dead = await loopback();
    const deadHost = dead.host;
    await dead.close();
    registry.handler = (_q, res) =>
      res.writeHead(302, { location: `http://${deadHost}/bucket/blob?${SECRET}` }).end();
    const captured = capturingLogger();
    const err = await caught(client(captured.log).locateBlob(digestOf('y')));
    assert.equal(err.code, 'REGISTRY_UNREACHABLE');
    assert.equal(err.exitCode, 1);
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
  let registry: Loopback;
  before(async () => {
    registry = await loopback();
  });
  after(() => registry.close());

  const index = JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] });
  const client = () =>
    new OciClient({
      ref: parseRegistryReference(`${registry.host}/a/b`),
      // Without Retry-After the pause would be about 1 ms.
      retry: { attempts: 2, baseDelayMs: 1, maxDelayMs: 5000 },
    });

  for (const status of [429, 503]) {
    it(`${status} with Retry-After: 1 is retried after a second, then succeeds`, async () => {
      registry.arrivals.length = 0;
      registry.handler = (_q, res) => {
        if (registry.arrivals.length === 1) res.writeHead(status, { 'retry-after': '1' }).end();
        else res.writeHead(200, { 'content-type': OCI_INDEX }).end(index);
      };
      const m = await client().getManifest('v1');
      assert.equal(m.mediaType, OCI_INDEX);
      assert.equal(registry.arrivals.length, 2);
      const waited = registry.arrivals[1]! - registry.arrivals[0]!;
      assert.ok(waited >= 950, `waited ${Math.round(waited)} ms, Retry-After said 1 s`);
    });
  }

  it('without Retry-After the retry is the backoff (here about 1 ms)', async () => {
    registry.arrivals.length = 0;
    registry.handler = (_q, res) => {
      if (registry.arrivals.length === 1) res.writeHead(503).end();
      else res.writeHead(200, { 'content-type': OCI_INDEX }).end(index);
    };
    await client().getManifest('v1');
    assert.equal(registry.arrivals.length, 2);
    assert.ok(registry.arrivals[1]! - registry.arrivals[0]! < 900);
  });
});
