/**
 * Every request names the tool, its version and architecture (docs/fleet.md
 * "Conventions"): the one HTTP stack (metadata, images, OCI pulls), the publisher's
 * pushes, the Kubernetes client and the health probe, each seen by a loopback server.
 */
import { strict as assert } from 'node:assert';
import { rmSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { Agent } from 'undici';
import { goArch } from '../../src/version.js';
import { checkProbeUrl } from '../../src/health/probe.js';
import { silentLogger } from '../../src/log.js';
import { openRequest, discardBody } from '../../src/transport/http.js';
import { OciClient } from '../../src/transport/oci/client.js';
import { parseRegistryReference } from '../../src/transport/oci/reference.js';
import { VERSION } from '../../src/version.js';
import { runRelease } from '../helpers/cli.js';
import { startServer, type TestServer } from '../helpers/http-server.js';
import { makeReleaseFiles, type ReleaseFiles } from '../oci/fixtures.js';

const AGENT_UA = `kubesolo-update/${VERSION} (linux; ${goArch()})`;

describe('User-Agent on every request', () => {
  let srv: TestServer;
  let files: ReleaseFiles;
  const dispatcher = new Agent();

  before(async () => {
    srv = await startServer({
      '/latest.json': (_req, res) => void res.writeHead(200).end('{}'),
      '/healthz': (_req, res) => void res.writeHead(200).end('ok'),
    });
    files = makeReleaseFiles('ua', 1_001, 2_001);
  });
  after(async () => {
    await srv.close();
    await dispatcher.close();
    rmSync(files.dir, { recursive: true, force: true });
  });

  const agentsOf = (path: RegExp) =>
    srv.requests.filter((r) => path.test(r.path)).map((r) => r.headers['user-agent']);

  it('the HTTP stack sends kubesolo-update/VERSION (linux; ARCH), and keeps one a caller names', async () => {
    const res = await openRequest(srv.url('/latest.json'), { dispatcher });
    discardBody(res.body);
    const named = await openRequest(srv.url('/latest.json'), {
      dispatcher,
      headers: { 'User-Agent': 'probe/1' },
    });
    discardBody(named.body);
    assert.deepEqual(agentsOf(/^\/latest\.json$/), [AGENT_UA, 'probe/1']);
    assert.match(AGENT_UA, /^kubesolo-update\/\d+\.\d+\.\d+ \(linux; (amd64|arm64)\)$/);
  });

  it('the OCI client (pulls) sends it too', async () => {
    const client = new OciClient({
      ref: parseRegistryReference(`${srv.origin.replace('http://', '')}/kubesolo/os`),
      dispatcher,
      retry: { attempts: 1, baseDelayMs: 1, maxDelayMs: 1 },
      log: silentLogger,
    });
    await client.getManifest('v1.0.0').catch(() => undefined);
    const seen = agentsOf(/^\/v2\//);
    assert.ok(seen.length > 0, 'the registry saw no request');
    assert.ok(
      seen.every((ua) => ua === AGENT_UA),
      JSON.stringify(seen),
    );
  });

  it('the health probe sends it', async () => {
    const outcome = await checkProbeUrl(srv.url('/healthz'), 5000);
    assert.equal(outcome.verdict, 'pass');
    assert.deepEqual(agentsOf(/^\/healthz$/), [AGENT_UA]);
  });

  it('kubesolo-release push sends kubesolo-release/VERSION (linux; ARCH)', async () => {
    const before = srv.requests.length;
    const r = await runRelease([
      'push',
      '--registry',
      `${srv.origin.replace('http://', '')}/kubesolo/os`,
      '--tag',
      'v9.0.0',
      '--kernel',
      files.kernelPath,
      '--initramfs',
      files.initramfsPath,
      '--version',
      'v9.0.0',
      '--arch',
      'amd64',
    ]);
    assert.notEqual(r.code, 0, 'the loopback server is no registry: the push must fail');
    const seen = srv.requests.slice(before).map((q) => q.headers['user-agent']);
    assert.ok(seen.length > 0, r.stderr);
    assert.ok(
      seen.every((ua) => ua === `kubesolo-release/${VERSION} (linux; ${goArch()})`),
      JSON.stringify(seen),
    );
  });
});
