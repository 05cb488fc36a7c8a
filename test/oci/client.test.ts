/**
 * OciClient and the source's edge cases that a well-behaved registry never produces,
 * against small loopback HTTP servers written for each case.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { startServer } from '../helpers/http-server.js';
import { OciClient } from '../../src/transport/oci/client.js';
import {
  LAYER_INITRAMFS,
  LAYER_KERNEL,
  OCI_INDEX,
  OCI_MANIFEST,
} from '../../src/transport/oci/media-types.js';
import { parseRegistryReference } from '../../src/transport/oci/reference.js';
import { createOciUpdateSource } from '../../src/transport/oci/source.js';
import { hasCode, rejectsWithCode } from '../helpers/rejects.js';
import { silentLogger } from '../../src/log.js';

type Handler = (req: IncomingMessage, res: ServerResponse, body: string) => void;

interface Fake {
  host: string;
  requests: { method: string; url: string; auth: string | undefined; body: string }[];
  handler: Handler;
  close(): Promise<void>;
}

async function fakeServer(): Promise<Fake> {
  const fake: Fake = {
    host: '',
    requests: [],
    handler: (_q, res) => res.writeHead(404).end(),
    close: async () => {},
  };
  const server = await startServer(
    {},
    {
      fallback: (req, res) => {
        let body = '';
        req.setEncoding('utf8');
        req.on('data', (d: string) => (body += d));
        req.on('end', () => {
          fake.requests.push({
            method: req.method ?? '',
            url: req.url ?? '',
            auth: req.headers.authorization,
            body,
          });
          fake.handler(req, res, body);
        });
      },
    },
  );
  fake.host = `127.0.0.1:${server.port}`;
  fake.close = () => server.close();
  return fake;
}

const digestOf = (b: string | Buffer) => 'sha256:' + createHash('sha256').update(b).digest('hex');

function json(
  res: ServerResponse,
  status: number,
  value: unknown,
  headers: Record<string, string> = {},
) {
  const body = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(body);
}

describe('OciClient against misbehaving loopback servers', () => {
  let fake: Fake;
  let other: Fake;
  const client = (extra: Partial<ConstructorParameters<typeof OciClient>[0]> = {}) =>
    new OciClient({
      log: silentLogger,
      ref: parseRegistryReference(`${fake.host}/a/b`),
      retry: { attempts: 3, baseDelayMs: 1, maxDelayMs: 10 },
      ...extra,
    });

  before(async () => {
    fake = await fakeServer();
    other = await fakeServer();
  });
  after(async () => {
    await fake.close();
    await other.close();
  });

  it('retries 503 and then succeeds', async () => {
    let n = 0;
    fake.handler = (_q, res) => {
      n++;
      if (n < 3) res.writeHead(503).end('busy');
      else json(res, 200, { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] });
    };
    const m = await client().getManifest('v1');
    assert.equal(n, 3);
    assert.equal(m.mediaType, OCI_INDEX);
  });

  it('gives up after the attempts with REGISTRY_ERROR (exit 1), and fails fast on a closed port', async () => {
    fake.handler = (_q, res) => json(res, 500, { errors: [{ code: 'UNKNOWN', message: 'boom' }] });
    const err = await rejectsWithCode(client().getManifest('v1'), 'REGISTRY_ERROR', 1);
    assert.match(err.message, /UNKNOWN: boom/);
    const dead = await fakeServer();
    const host = dead.host;
    await dead.close();
    await rejectsWithCode(
      new OciClient({
        log: silentLogger,
        ref: parseRegistryReference(`${host}/a`),
        retry: { attempts: 2, baseDelayMs: 1, maxDelayMs: 10 },
      }).getManifest('v1'),
      'REGISTRY_UNREACHABLE',
      1,
    );
  });

  it('refuses manifests over 4 MiB, declared or streamed (OCI_MANIFEST_TOO_LARGE, exit 4)', async () => {
    const big = Buffer.alloc(4 * 1024 * 1024 + 1, 0x20);
    fake.handler = (_q, res) => res.writeHead(200, { 'content-type': OCI_MANIFEST }).end(big);
    await rejectsWithCode(client().getManifest('v1'), 'OCI_MANIFEST_TOO_LARGE', 4);
    fake.handler = (_q, res) => {
      res.writeHead(200, { 'content-type': OCI_MANIFEST, 'transfer-encoding': 'chunked' });
      res.write(big.subarray(0, 3 * 1024 * 1024));
      res.end(big.subarray(3 * 1024 * 1024));
    };
    await rejectsWithCode(client().getManifest('v1'), 'OCI_MANIFEST_TOO_LARGE', 4);
  });

  it('checks a manifest fetched by digest against the digest (OCI_DIGEST_MISMATCH, exit 4)', async () => {
    const doc = JSON.stringify({ schemaVersion: 2 });
    fake.handler = (_q, res) => res.writeHead(200, { 'content-type': OCI_MANIFEST }).end(doc);
    const ok = await client().getManifest(digestOf(doc));
    assert.equal(ok.digest, digestOf(doc));
    assert.equal(ok.mediaType, OCI_MANIFEST, 'falls back to the Content-Type');
    await rejectsWithCode(client().getManifest(digestOf('other')), 'OCI_DIGEST_MISMATCH', 4);
    fake.handler = (_q, res) => res.writeHead(200).end('not json');
    await rejectsWithCode(client().getManifest('v1'), 'OCI_MANIFEST_INVALID', 4);
  });

  it('maps 403 to REGISTRY_DENIED and unknown auth schemes to REGISTRY_AUTH_UNSUPPORTED', async () => {
    fake.handler = (_q, res) => json(res, 403, { errors: [{ code: 'DENIED', message: 'no' }] });
    await rejectsWithCode(client().getManifest('v1'), 'REGISTRY_DENIED', 2);
    fake.handler = (_q, res) => res.writeHead(401, { 'www-authenticate': 'Negotiate' }).end();
    await rejectsWithCode(client().getManifest('v1'), 'REGISTRY_AUTH_UNSUPPORTED', 1);
    fake.handler = (_q, res) =>
      res.writeHead(401, { 'www-authenticate': 'Bearer realm="::nope"' }).end();
    await rejectsWithCode(client().getManifest('v1'), 'REGISTRY_AUTH_UNSUPPORTED', 1);
  });

  it('refuses a plain-HTTP token realm for an HTTPS registry (credentials never go in clear text)', async () => {
    // The reference says https (so the realm rule applies) while baseUrl still reaches
    // the loopback stand-in that sends the challenge.
    const c = new OciClient({
      log: silentLogger,
      ref: { ...parseRegistryReference(`${fake.host}/a`), scheme: 'https' },
      credentials: { username: 'u', password: 'p' },
      retry: { attempts: 1, baseDelayMs: 1, maxDelayMs: 1 },
    });
    fake.requests.length = 0;
    fake.handler = (_q, res) =>
      res.writeHead(401, { 'www-authenticate': `Bearer realm="http://${fake.host}/token"` }).end();
    await rejectsWithCode(c.getManifest('v1'), 'REGISTRY_AUTH_UNSUPPORTED', 1);
    assert.ok(
      fake.requests.every((r) => !r.url.startsWith('/token')),
      'no token request was made',
    );
  });

  it('uses the OAuth2 refresh-token grant for an identity token, and reports token service failures', async () => {
    fake.handler = (req, res, body) => {
      if (req.url?.startsWith('/token')) {
        const form = new URLSearchParams(body);
        if (
          req.method === 'POST' &&
          form.get('grant_type') === 'refresh_token' &&
          form.get('refresh_token') === 'rt'
        ) {
          json(res, 200, { access_token: 'tok-1' });
        } else res.writeHead(400).end();
        return;
      }
      if (req.headers.authorization === 'Bearer tok-1') {
        json(res, 200, { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] });
        return;
      }
      res
        .writeHead(401, {
          'www-authenticate': `Bearer realm="http://${fake.host}/token",service="svc"`,
        })
        .end();
    };
    const m = await client({ credentials: { identityToken: 'rt' } }).getManifest('v1');
    assert.equal(m.mediaType, OCI_INDEX);
    const post = fake.requests.find((r) => r.method === 'POST');
    assert.equal(new URLSearchParams(post!.body).get('scope'), 'repository:a/b:pull');
    assert.equal(new URLSearchParams(post!.body).get('service'), 'svc');

    const challenge = { 'www-authenticate': `Bearer realm="http://${fake.host}/token"` };
    for (const [status, body] of [
      [500, 'x'],
      [200, '{"nothing":1}'],
      [200, 'not json'],
    ] as const) {
      fake.handler = (req, res) => {
        if (req.url?.startsWith('/token')) res.writeHead(status).end(body);
        else res.writeHead(401, challenge).end();
      };
      await rejectsWithCode(
        client({ retry: { attempts: 1, baseDelayMs: 1, maxDelayMs: 1 } }).getManifest('v1'),
        'REGISTRY_AUTH_FAILED_UPSTREAM',
        1,
      );
    }
  });

  it('follows a blob redirect to another origin without sending the credentials there', async () => {
    const blob = Buffer.from('metadata bytes');
    other.handler = (_q, res) =>
      res.writeHead(200, { 'content-length': String(blob.length) }).end(blob);
    fake.handler = (req, res) => {
      if (!req.headers.authorization) {
        res.writeHead(401, { 'www-authenticate': 'Basic realm="r"' }).end();
        return;
      }
      res.writeHead(307, { location: `http://${other.host}/storage/blob` }).end();
    };
    const got = await client({ credentials: { username: 'u', password: 'p' } }).getSmallBlob(
      digestOf(blob),
      1024,
    );
    assert.ok(got.equals(blob));
    assert.ok(other.requests.length >= 2);
    assert.ok(
      other.requests.every((r) => r.auth === undefined),
      'no Authorization to the other origin',
    );
    assert.ok(fake.requests.some((r) => r.auth?.startsWith('Basic ')));
  });

  it('refuses small blobs that are too big or hash wrong', async () => {
    const blob = Buffer.from('0123456789');
    fake.handler = (_q, res) =>
      res.writeHead(200, { 'content-length': String(blob.length) }).end(blob);
    await rejectsWithCode(client().getSmallBlob(digestOf(blob), 5), 'SIZE_LIMIT_EXCEEDED', 4);
    await rejectsWithCode(client().getSmallBlob(digestOf('x'), 100), 'OCI_DIGEST_MISMATCH', 4);
  });
});

describe('createOciUpdateSource against hand-written manifests', () => {
  let fake: Fake;
  const routes = new Map<string, { type: string; body: string }>();
  const d = (c: string) => 'sha256:' + c.repeat(64);
  const manifest = (annotations: Record<string, string>) =>
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: d('4'), size: 2 },
      layers: [
        { mediaType: LAYER_KERNEL, digest: d('1'), size: 10 },
        { mediaType: LAYER_INITRAMFS, digest: d('2'), size: 20 },
      ],
      annotations,
    });

  before(async () => {
    fake = await fakeServer();
    fake.handler = (req, res) => {
      const r = routes.get(req.url ?? '');
      if (!r) json(res, 404, { errors: [{ code: 'MANIFEST_UNKNOWN' }] });
      else res.writeHead(200, { 'content-type': r.type }).end(r.body);
    };
  });
  after(() => fake.close());

  const source = (tag: string, extra: Record<string, unknown> = {}) =>
    createOciUpdateSource({
      log: silentLogger,
      registry: `${fake.host}/a`,
      tag,
      architecture: 'amd64',
      allowUnsigned: true, // without a key: a lab device
      ...extra,
    });

  it('builds the release from annotations when there is no metadata layer and no key', async () => {
    routes.set('/v2/a/manifests/plain', {
      type: OCI_MANIFEST,
      body: manifest({
        'io.kubesolo.os.version': 'v1.0.0',
        'io.kubesolo.os.architecture': 'amd64',
        'io.kubesolo.os.channel': 'beta',
        'io.kubesolo.os.min_compatible_version': 'v0.9.0',
        'io.kubesolo.os.release_notes': 'n',
        'io.kubesolo.os.release_date': '2026-01-01T00:00:00Z',
      }),
    });
    const r = await source('plain').fetchRelease();
    assert.deepEqual(r.metadata, {
      version: 'v1.0.0',
      images: {
        vmlinuz: {
          url: `http://${fake.host}/v2/a/blobs/${d('1')}`,
          sha256: '1'.repeat(64),
          size: 10,
        },
        initramfs: {
          url: `http://${fake.host}/v2/a/blobs/${d('2')}`,
          sha256: '2'.repeat(64),
          size: 20,
        },
      },
      channel: 'beta',
      minCompatibleVersion: 'v0.9.0',
      releaseNotes: 'n',
      releaseDate: '2026-01-01T00:00:00Z',
      architecture: 'amd64',
    });
    assert.equal(r.metadataSigned, false);
  });

  it('refuses a single manifest that does not say its architecture (ARCH_MISMATCH, exit 3)', async () => {
    routes.set('/v2/a/manifests/noarch', {
      type: OCI_MANIFEST,
      body: manifest({ 'io.kubesolo.os.version': 'v1.0.0' }),
    });
    await rejectsWithCode(source('noarch').fetchRelease(), 'ARCH_MISMATCH', 3);
  });

  // Before: a release from annotations skipped the parser, so `v1` (no version a device
  // can order) was offered and failed only later, at the version gate.
  it('judges annotations by the latest.json parser: a version annotation that is no version is INVALID_VERSION', async () => {
    routes.set('/v2/a/manifests/badver', {
      type: OCI_MANIFEST,
      body: manifest({ 'io.kubesolo.os.version': 'v1', 'io.kubesolo.os.architecture': 'amd64' }),
    });
    await rejectsWithCode(source('badver').fetchRelease(), 'INVALID_VERSION', 4);
  });

  it('refuses a manifest without a version, and unknown media types (OCI_MANIFEST_INVALID, exit 4)', async () => {
    routes.set('/v2/a/manifests/nover', {
      type: OCI_MANIFEST,
      body: manifest({ 'io.kubesolo.os.architecture': 'amd64' }),
    });
    await rejectsWithCode(source('nover').fetchRelease(), 'OCI_MANIFEST_INVALID', 4);
    routes.set('/v2/a/manifests/weird', { type: 'application/vnd.example+json', body: '{}' });
    await rejectsWithCode(source('weird').fetchRelease(), 'OCI_MANIFEST_INVALID', 4);
  });

  it('refuses an index entry whose target is not a manifest (OCI_MANIFEST_INVALID, exit 4)', async () => {
    const child = JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] });
    routes.set(`/v2/a/manifests/${digestOf(child)}`, { type: OCI_INDEX, body: child });
    routes.set('/v2/a/manifests/nested', {
      type: OCI_INDEX,
      body: JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_INDEX,
        manifests: [
          {
            mediaType: OCI_MANIFEST,
            digest: digestOf(child),
            size: child.length,
            platform: { architecture: 'amd64', os: 'linux' },
          },
        ],
      }),
    });
    await rejectsWithCode(source('nested').fetchRelease(), 'OCI_MANIFEST_INVALID', 4);
  });

  it('needs a tag (REGISTRY_TAG_REQUIRED, exit 2) and rejects a malformed signature annotation', async () => {
    assert.throws(
      () =>
        createOciUpdateSource({
          log: silentLogger,
          registry: `${fake.host}/a`,
          allowUnsigned: true,
        }),
      hasCode('REGISTRY_TAG_REQUIRED', 2),
    );
    const body = JSON.parse(
      manifest({ 'io.kubesolo.os.version': 'v1.0.0', 'io.kubesolo.os.architecture': 'amd64' }),
    ) as {
      layers: { annotations?: Record<string, string> }[];
    };
    body.layers[0]!.annotations = { 'io.kubesolo.os.signature': 'zz' };
    body.layers[1]!.annotations = { 'io.kubesolo.os.signature': 'ab'.repeat(64) };
    routes.set('/v2/a/manifests/badsig', { type: OCI_MANIFEST, body: JSON.stringify(body) });
    const src = source('badsig', { publicKey: Buffer.alloc(32, 1), allowUnsignedMetadata: true });
    const release = await src.fetchRelease();
    await rejectsWithCode(
      src.stage(release, 'vmlinuz', { stagingDir: '/nonexistent-never-written' }),
      'SIGNATURE_MALFORMED',
      4,
    );
    await src.close();
  });
});
