/**
 * `kubesolo-release push` as an operator runs it: the built bundle as a child
 * process, against the real reference registry; keys from `kubesolo-release keygen`.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createOciUpdateSource } from '../../src/transport/oci/source.js';
import { expectRefusal, logLines, runRelease } from '../helpers/cli.js';
import { registrySkipReason, startRegistry, type TestRegistry } from '../helpers/registry.js';
import { makeReleaseFiles, sha256, skopeoRaw, type ReleaseFiles } from './fixtures.js';
import { silentLogger } from '../../src/log.js';

const skip = registrySkipReason();

describe('kubesolo-release push (CLI) against docker-registry', { skip }, () => {
  let reg: TestRegistry;
  let authReg: TestRegistry;
  let files: ReleaseFiles;
  let keyDir: string;

  before(async () => {
    reg = await startRegistry();
    authReg = await startRegistry({ htpasswd: { username: 'pub', password: 's3cret' } });
    files = makeReleaseFiles('cli', 50_001, 90_001);
    keyDir = mkdtempSync(join(tmpdir(), 'ks-oci-keys-'));
    const kg = await runRelease(['keygen', '--out', keyDir]);
    assert.equal(kg.code, 0, kg.stderr);
  });
  after(async () => {
    await reg?.stop();
    await authReg?.stop();
    for (const d of [files?.dir, keyDir]) if (d) rmSync(d, { recursive: true, force: true });
  });

  const baseArgs = (host: string, tag: string) => [
    'push',
    '--registry',
    `${host}/kubesolo/os`,
    '--tag',
    tag,
    '--kernel',
    files.kernelPath,
    '--initramfs',
    files.initramfsPath,
    '--version',
    tag,
    '--arch',
    'amd64',
  ];

  it('pushes a signed release (chunked) that the agent-side source verifies with the public key', async () => {
    const r = await runRelease([
      '--json',
      ...baseArgs(reg.host, 'v0.5.0'),
      '--key',
      join(keyDir, 'release.key'),
      '--channel',
      'stable',
      '--min-compatible-version',
      'v0.4.0',
      '--chunk-size',
      '16384',
    ]);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as {
      ok: boolean;
      indexDigest: string;
      manifestDigest: string;
      signed: boolean;
      blobs: { name: string; chunks?: number }[];
    };
    assert.equal(out.ok, true);
    assert.equal(out.signed, true);
    assert.equal(
      out.blobs.find((b) => b.name === 'kubesolo-os.gz')!.chunks,
      Math.ceil(90_001 / 16384),
    );
    const index = await skopeoRaw(`${reg.host}/kubesolo/os:v0.5.0`);
    assert.equal(index.manifests[0]!.digest, out.manifestDigest);

    const pub = readFileSync(join(keyDir, 'release.pub'), 'utf8').trim();
    const release = await createOciUpdateSource({
      log: silentLogger,
      registry: `${reg.host}/kubesolo/os`,
      tag: 'v0.5.0',
      architecture: 'amd64',
      publicKey: Buffer.from(pub, 'hex'),
    }).fetchRelease();
    assert.equal(release.metadataSigned, true);
    assert.equal(release.metadata.minCompatibleVersion, 'v0.4.0');
    assert.equal(release.metadata.images.initramfs.sha256, sha256(files.initramfs));
  });

  it('prints the two references on stdout and warns when unsigned', async () => {
    const r = await runRelease(baseArgs(reg.host, 'v0.5.1'));
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.match(lines[0]!, new RegExp(`^${reg.host}/kubesolo/os:v0\\.5\\.1 sha256:[0-9a-f]{64}$`));
    assert.match(
      lines[1]!,
      new RegExp(`^${reg.host}/kubesolo/os:v0\\.5\\.1-amd64 sha256:[0-9a-f]{64}$`),
    );
    assert.ok(
      logLines(r.stderr).some((l) => l.level === 'warn' && String(l.msg).includes('without --key')),
    );
  });

  it('authenticates with --username and --password-stdin; a wrong password exits 2', async () => {
    const ok = await runRelease(
      [...baseArgs(authReg.host, 'v0.6.0'), '--username', 'pub', '--password-stdin'],
      {
        input: 's3cret\n',
      },
    );
    assert.equal(ok.code, 0, ok.stderr);
    const bad = await runRelease(
      ['--json', ...baseArgs(authReg.host, 'v0.6.1'), '--username', 'pub', '--password-stdin'],
      { input: 'wrong\n' },
    );
    expectRefusal(bad, 'REGISTRY_AUTH_FAILED', 2);
    const anon = await runRelease(['--json', ...baseArgs(authReg.host, 'v0.6.2')]);
    expectRefusal(anon, 'REGISTRY_AUTH_REQUIRED', 2);
  });

  it('usage errors exit 2 with a reason code', async () => {
    const cases: [string[], string][] = [
      [['push', '--registry', `${reg.host}/x`], 'MISSING_OPTION'],
      [
        [
          ...baseArgs(reg.host, 'v1').map((a) =>
            a === files.kernelPath ? '/nonexistent/vmlinuz' : a,
          ),
        ],
        'INPUT_UNREADABLE',
      ],
      [[...baseArgs(reg.host, 'v1'), '--chunk-size', '0'], 'INVALID_CHUNK_SIZE'],
      [[...baseArgs('bad host', 'v1')], 'INVALID_REGISTRY_REFERENCE'],
      [[...baseArgs(reg.host, 'bad tag!')], 'INVALID_TAG'],
    ];
    for (const [args, code] of cases) {
      expectRefusal(await runRelease(['--json', ...args]), code, 2);
    }
  });
});
