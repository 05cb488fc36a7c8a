/**
 * `push` adds its architecture to the index under the tag (src/release/oci-push.ts
 * updateIndex). A tag holding something that is neither an index nor a manifest (a
 * registry that serves another artifact type there: the reference registry the other
 * tests push to stores only those two) is refused with OCI_TAG_CONFLICT, and nothing
 * is written over it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { silentLogger } from '../../src/log.js';
import { updateIndex } from '../../src/release/oci-push.js';
import { OciClient } from '../../src/transport/oci/client.js';
import { parseRegistryReference } from '../../src/transport/oci/reference.js';
import { startServer, type TestServer } from '../helpers/http-server.js';
import { rejectsWithCode } from '../helpers/rejects.js';

describe('push onto a tag that holds neither an index nor a manifest', () => {
  let registry: TestServer;
  before(async () => {
    registry = await startServer({});
  });
  after(() => registry.close());

  it('OCI_TAG_CONFLICT (exit 1), and no manifest is put under the tag', async () => {
    const other = JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.example.thing+json',
    });
    registry.route('/v2/a/b/manifests/stable', (req, res) => {
      if (req.method === 'PUT') return void res.writeHead(201).end();
      res.writeHead(200, { 'content-type': 'application/vnd.example.thing+json' }).end(other);
    });
    const client = new OciClient({
      log: silentLogger,
      ref: parseRegistryReference(`${registry.origin.slice('http://'.length)}/a/b`),
      retry: { attempts: 1, baseDelayMs: 1, maxDelayMs: 1 },
    });
    const err = await rejectsWithCode(
      updateIndex(client, {
        tag: 'stable',
        architecture: 'amd64',
        version: 'v1.0.0',
        manifestDigest: `sha256:${'a'.repeat(64)}`,
        manifestSize: 100,
        log: silentLogger,
      }),
      'OCI_TAG_CONFLICT',
      1,
    );
    assert.match(err.message, /application\/vnd\.example\.thing\+json/);
    assert.deepEqual(
      registry.requests.filter((r) => r.method === 'PUT'),
      [],
      'nothing was put under the tag',
    );
  });
});
