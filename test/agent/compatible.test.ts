/**
 * Boards (docs/operating.md "Boards"), through the built binaries: `kubesolo-release
 * publish --compatible` signs the list into latest.json, and the device's `compatible`
 * gate reads its board from the OS image's identity file (/usr/lib/kubesolo/compatible)
 * or update.conf's lab override. A release for other boards is refused (exit 3) with the
 * passive slot untouched; a device that does not know its board installs it, warning.
 */
import { strict as assert } from 'node:assert';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runAgent, runAgentJson, runRelease } from '../helpers/cli.js';
import { makeDevice, serveDir, type Device, type StaticServer } from '../helpers/device.js';
import { grubSet } from '../helpers/grub-env.js';
import { assertCode } from '../helpers/code-assert.js';
import { loggedLine } from '../helpers/code-log-line.js';

describe('boards: publish --compatible and the compatible gate', () => {
  let work: string;
  let server: StaticServer;
  let pubHex: string;
  const devices: Device[] = [];

  /** Publish `version` for `boards` (none: no list) into the served directory. */
  async function publish(version: string, boards: string[]): Promise<void> {
    for (const f of ['vmlinuz', 'initramfs']) {
      await writeFile(join(work, f), `${version} ${f} `.repeat(500));
    }
    const r = await runRelease([
      'publish',
      ...['--key', join(work, 'keys/release.key'), '--release-version', version],
      ...['--kernel', join(work, 'vmlinuz'), '--initramfs', join(work, 'initramfs')],
      ...['--out', join(work, 'out'), '--arch', 'amd64', '--force'],
      ...boards.flatMap((b) => ['--compatible', b]),
    ]);
    assert.equal(r.code, 0, r.stderr);
  }

  /** A device running v1.0.0 on slot A; `board` is its identity file's content. */
  async function device(board: string | undefined, config: Record<string, string> = {}) {
    const dev = await makeDevice({
      config: { server: server.url, pubkey: '/etc/kubesolo/update.pub', ...config },
    });
    devices.push(dev);
    await writeFile(dev.path('etc/kubesolo/update.pub'), pubHex + '\n');
    grubSet(dev.path('boot/grub/grubenv'), {
      active_slot: 'A',
      boot_success: '1',
      boot_counter: '3',
    });
    if (board !== undefined) {
      await mkdir(dev.path('usr/lib/kubesolo'), { recursive: true });
      await writeFile(dev.path('usr/lib/kubesolo/compatible'), board);
    }
    return dev;
  }

  const gate = (doc: Record<string, any>) =>
    (doc.gates as Record<string, unknown>[]).find((g) => g.gate === 'compatible');

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'ks-boards-'));
    const keygen = await runRelease(['keygen', '--out', join(work, 'keys')]);
    assert.equal(keygen.code, 0, keygen.stderr);
    pubHex = (await readFile(join(work, 'keys/release.pub'), 'utf8')).trim();
    await mkdir(join(work, 'out'), { recursive: true });
    server = await serveDir(join(work, 'out'));
  });
  after(async () => {
    await server.close();
    for (const d of devices) await d.cleanup();
    await rm(work, { recursive: true, force: true });
  });

  it('publish signs the list into latest.json, each board once', async () => {
    await publish('v1.1.0', ['nuc', 'qemu-x86', 'nuc']);
    const md = JSON.parse(await readFile(join(work, 'out/latest.json'), 'utf8'));
    assert.deepEqual(md.compatible, ['nuc', 'qemu-x86']);
  });

  it('a listed board: check passes the gate and apply stages the release', async () => {
    await publish('v1.1.0', ['nuc', 'qemu-x86']);
    const dev = await device('qemu-x86\n');
    const check = await runAgentJson(['check', '--root', dev.root]);
    assert.equal(check.code, 0, check.stderr);
    assert.deepEqual(gate(check.doc), {
      gate: 'compatible',
      pass: true,
      skipped: false,
      warning: false,
      code: null,
      message: 'board qemu-x86',
    });
    const apply = await runAgent(['apply', '--root', dev.root]);
    assert.equal(apply.code, 0, apply.stderr);
    assert.equal((await readFile(dev.path('slots/b/version'), 'utf8')).trim(), 'v1.1.0');
  });

  it('another board: check and apply refuse with BOARD_INCOMPATIBLE (exit 3), slot B untouched', async () => {
    await publish('v1.1.0', ['nuc', 'qemu-x86']);
    const dev = await device('rpi4\n');
    const check = await runAgentJson(['check', '--root', dev.root]);
    assert.equal(check.code, 3, check.stderr);
    assertCode(gate(check.doc)?.code, 'BOARD_INCOMPATIBLE');
    assert.match(
      String(gate(check.doc)?.message),
      /release is for nuc, qemu-x86; this device is rpi4 \(\S+\/usr\/lib\/kubesolo\/compatible\)/,
    );
    // --force passes policy gates, never this one: another board's image may not boot.
    const apply = await runAgentJson(['apply', '--root', dev.root, '--force']);
    assert.equal(apply.code, 3, apply.stderr);
    assertCode(apply.doc.error?.code, 'BOARD_INCOMPATIBLE');
    assert.equal(existsSync(dev.path('slots/b/version')), false);
  });

  it('update.conf compatible (or --compatible) overrides the image, for labs', async () => {
    await publish('v1.1.0', ['nuc']);
    const byConf = await device('rpi4\n', { compatible: 'nuc' });
    const check = await runAgentJson(['check', '--root', byConf.root]);
    assert.equal(gate(check.doc)?.message, 'board nuc');
    const byFlag = await device('rpi4\n');
    const flagged = await runAgentJson(['check', '--root', byFlag.root, '--compatible', 'nuc']);
    assert.equal(flagged.code, 0, flagged.stderr);
    const bad = await runAgentJson(['check', '--root', byFlag.root, '--compatible', 'no board']);
    assert.equal(bad.code, 2);
    assertCode(bad.doc.error?.code, 'CONFIG_INVALID_VALUE');
  });

  it('no identity: accepted, with a warning in check and in apply’s log', async () => {
    await publish('v1.1.0', ['nuc']);
    const dev = await device(undefined);
    const check = await runAgentJson(['check', '--root', dev.root]);
    assert.equal(check.code, 0, check.stderr);
    assert.deepEqual([gate(check.doc)?.pass, gate(check.doc)?.warning], [true, true]);
    assertCode(gate(check.doc)?.code, 'BOARD_UNKNOWN');
    const apply = await runAgent(['apply', '--root', dev.root]);
    assert.equal(apply.code, 0, apply.stderr);
    assert.equal(loggedLine(apply.stderr, 'BOARD_UNKNOWN').level, 'warn');
  });

  it('a damaged identity (two lines, or not a board name) refuses: BOARD_IDENTITY_INVALID', async () => {
    await publish('v1.1.0', ['nuc']);
    for (const text of ['nuc\nrpi4\n', 'my board\n']) {
      const dev = await device(text);
      const apply = await runAgentJson(['apply', '--root', dev.root]);
      assert.equal(apply.code, 3, apply.stderr);
      assertCode(apply.doc.error?.code, 'BOARD_IDENTITY_INVALID', undefined, text);
      assert.equal(existsSync(dev.path('slots/b/version')), false);
    }
  });

  it('a release that names no boards installs on any board', async () => {
    await publish('v1.1.0', []);
    const dev = await device('rpi4\n');
    const apply = await runAgent(['apply', '--root', dev.root]);
    assert.equal(apply.code, 0, apply.stderr);
  });

  it('publish refuses an unknown --compatible name', async () => {
    const r = await runRelease([
      'publish',
      ...['--key', join(work, 'keys/release.key'), '--release-version', 'v9.0.0'],
      ...['--kernel', join(work, 'vmlinuz'), '--initramfs', join(work, 'initramfs')],
      ...['--out', join(work, 'out'), '--compatible', 'bad/board', '--json'],
    ]);
    assert.equal(r.code, 2);
    assertCode(JSON.parse(r.stdout).error.code, 'INVALID_BOARD');
  });
});
