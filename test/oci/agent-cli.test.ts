/**
 * The agent bundle updating from the real reference registry: `apply --registry/--tag`
 * over dir slots under --root, and the hostile cases again end to end, each with its
 * exit code and reason code in --json and state.json, and the passive slot untouched.
 */
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'undici';
import { pushRelease } from '../../src/release/oci-push.js';
import { runAgent } from '../helpers/cli.js';
import { makeDevice, type Device } from '../helpers/device.js';
import { registrySkipReason, startRegistry, type TestRegistry } from '../helpers/registry.js';
import { makeKeys, makeReleaseFiles, sha256 } from './fixtures.js';
import { silentLogger } from '../../src/log.js';

const skip = registrySkipReason();
const keys = makeKeys();

describe('kubesolo-update apply from docker-registry', { skip }, () => {
  let reg: TestRegistry;
  let dev: Device;
  const cleanup: string[] = [];

  const push = async (repo: string, arch: string, label: string, sign = true) => {
    const f = makeReleaseFiles(label, 9_001, 20_001);
    cleanup.push(f.dir);
    await pushRelease({
      log: silentLogger,
      registry: `${reg.host}/${repo}`,
      tag: 'v1.1.0',
      imagePaths: { vmlinuz: f.kernelPath, initramfs: f.initramfsPath },
      version: 'v1.1.0',
      architecture: arch,
      channel: 'stable',
      ...(sign ? { signingKey: keys.privateKey } : {}),
    });
    return f;
  };

  async function apply(repo: string) {
    const r = await runAgent([
      'apply',
      '--root',
      dev.root,
      '--registry',
      `${reg.host}/${repo}`,
      '--tag',
      'v1.1.0',
      '--json',
    ]);
    const doc = r.stdout.trim() ? (JSON.parse(r.stdout) as Record<string, unknown>) : {};
    const statePath = dev.path('var/lib/kubesolo/update/state.json');
    const state = existsSync(statePath)
      ? (JSON.parse(readFileSync(statePath, 'utf8')) as Record<string, unknown>)
      : {};
    return { ...r, doc, state };
  }

  /** Slot B holds nothing (the device starts with only slot A populated). */
  const slotBEmpty = () =>
    ['vmlinuz', 'kubesolo-os.gz', 'version'].every((f) => !existsSync(dev.path(`slots/b/${f}`)));

  before(async () => {
    reg = await startRegistry();
  });
  after(async () => {
    await reg?.stop();
    for (const d of cleanup) rmSync(d, { recursive: true, force: true });
  });
  beforeEach(async () => {
    dev = await makeDevice({
      config: { pubkey: '/etc/kubesolo/update.pub', health_checks: 'disk_writable' },
    });
    writeFileSync(dev.path('etc/kubesolo/update.pub'), keys.publicKeyHex + '\n');
    execFileSync('grub-editenv', [dev.path('boot/grub/grubenv'), 'create']);
    execFileSync('grub-editenv', [
      dev.path('boot/grub/grubenv'),
      'set',
      'active_slot=A',
      'boot_success=1',
      'boot_counter=3',
    ]);
  });
  afterEach(async () => {
    await dev.cleanup();
  });

  it('stages a signed registry release into the passive slot', async () => {
    const f = await push('good/os', process.arch === 'arm64' ? 'arm64' : 'amd64', 'good');
    const r = await apply('good/os');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.state.phase, 'staged');
    assert.equal(readFileSync(dev.path('slots/b/version'), 'utf8').trim(), 'v1.1.0');
    assert.equal(sha256(readFileSync(dev.path('slots/b/kubesolo-os.gz'))), sha256(f.initramfs));
    assert.equal(sha256(readFileSync(dev.path('slots/b/vmlinuz'))), sha256(f.kernel));
  });

  const hostile: [string, (repo: string) => Promise<unknown>, number, string][] = [
    [
      'an unsigned artifact with a key configured',
      (repo) => push(repo, 'amd64', 'unsigned', false),
      4,
      'SIGNATURE_MISSING',
    ],
    [
      'an index without this architecture',
      (repo) => push(repo, 'riscv64', 'riscv'),
      3,
      'ARCH_MISMATCH',
    ],
    [
      'a layer whose bytes do not match its digest',
      async (repo) => {
        const f = await push(repo, 'amd64', 'corrupt-cli');
        const data = reg.blobDataPath(`sha256:${sha256(f.initramfs)}`);
        const bytes = readFileSync(data);
        bytes[100] = bytes[100]! ^ 0x01;
        writeFileSync(data, bytes);
      },
      4,
      'HASH_MISMATCH',
    ],
    [
      'a missing layer',
      async (repo) => {
        const f = await push(repo, 'amd64', 'missing-cli');
        const res = await request(`${reg.url}/v2/${repo}/blobs/sha256:${sha256(f.kernel)}`, {
          method: 'DELETE',
        });
        await res.body.dump();
        assert.equal(res.statusCode, 202);
      },
      1,
      'OCI_BLOB_NOT_FOUND',
    ],
  ];
  it(
    'check shows an index without this architecture as the architecture gate refusing (exit 3)',
    { skip: process.arch !== 'x64' && 'amd64 device only' },
    async () => {
      await push('hostile/check-arch', 'riscv64', 'riscv-check');
      const r = await runAgent([
        'check',
        '--root',
        dev.root,
        '--registry',
        `${reg.host}/hostile/check-arch`,
        '--tag',
        'v1.1.0',
        '--json',
      ]);
      assert.equal(r.code, 3, r.stderr);
      const doc = JSON.parse(r.stdout) as { gates: { gate: string; code: string | null }[] };
      assert.deepEqual(
        doc.gates.filter((g) => g.code !== null).map((g) => [g.gate, g.code]),
        [['architecture', 'ARCH_MISMATCH']],
      );
    },
  );

  for (const [what, setup, exitCode, code] of hostile) {
    it(
      `${what}: exit ${exitCode}, ${code}, nothing installed`,
      { skip: process.arch !== 'x64' && 'amd64 device only' },
      async () => {
        const repo = `hostile/${code.toLowerCase().replace(/_/g, '-')}`;
        await setup(repo);
        const r = await apply(repo);
        assert.equal(r.code, exitCode, r.stderr);
        assert.equal(
          (r.doc.error as { code?: string } | undefined)?.code ?? r.doc.reason,
          code,
          r.stdout,
        );
        assert.equal(r.state.reason, code);
        assert.equal(r.state.phase, 'failed');
        assert.ok(slotBEmpty(), 'slot B was not written');
      },
    );
  }
});
