/**
 * The whole update cycle through the built agent on simulated devices of every
 * bootloader (`dev init-root --bootloader grub|uboot|rpi-tryboot`): a good update is
 * applied, activated, booted by the bootloader's rules (`dev reboot`), committed by the
 * health check and reported by `status`; an update that is never committed falls back
 * and is reported as BOOT_FALLBACK. The release is published by `kubesolo-release` and
 * served on loopback.
 */
import { strict as assert } from 'node:assert';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createStaticServer, listen } from '../../src/release/serve.js';
import { runAgent, runRelease } from '../helpers/cli.js';
import { silentLogger } from '../../src/log.js';

let work: string;
let server: Server;
let base: string;
let pubHex: string;

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'ksu-bootloaders-'));
  assert.equal((await runRelease(['keygen', '--out', join(work, 'keys')])).code, 0);
  pubHex = (await readFile(join(work, 'keys', 'release.pub'), 'utf8')).trim();
  await mkdir(join(work, 'build'));
  await writeFile(join(work, 'build', 'vmlinuz'), Buffer.alloc(200_000, 1));
  await writeFile(join(work, 'build', 'kubesolo-os.gz'), Buffer.alloc(400_000, 2));
  const pub = await runRelease([
    'publish',
    ...['--key', join(work, 'keys', 'release.key'), '--version', 'v1.1.0'],
    ...[
      '--kernel',
      join(work, 'build', 'vmlinuz'),
      '--initramfs',
      join(work, 'build', 'kubesolo-os.gz'),
    ],
    ...['--out', join(work, 'site')],
  ]);
  assert.equal(pub.code, 0, pub.stderr);
  server = await createStaticServer(join(work, 'site'), { log: silentLogger });
  base = await listen(server, { host: '127.0.0.1', port: 0 });
});

after(async () => {
  server?.closeAllConnections();
  await new Promise((r) => server?.close(r));
  await rm(work, { recursive: true, force: true });
});

interface Status {
  bootloader: string;
  active_slot: string;
  running_slot: string;
  boot_success: boolean;
  boot_counter: number;
  slots: Record<'A' | 'B', { version: string | null }>;
  state: { phase: string; reason: string; from_version: string; to_version: string };
  problems: { source: string; code: string }[];
}

async function device(name: string, bootloader: string): Promise<string> {
  const root = join(work, name);
  const r = await runAgent([
    ...['dev', 'init-root', root, '--installed-version', 'v1.0.0'],
    ...['--server', `${base}latest.json`, '--pubkey', pubHex, '--bootloader', bootloader],
  ]);
  assert.equal(r.code, 0, r.stderr);
  return root;
}

/** `status --json`; it exits 1 when something could not be read (docs/operating.md). */
async function status(root: string, exitCode = 0): Promise<Status> {
  const r = await runAgent(['--root', root, 'status', '--json']);
  assert.equal(r.code, exitCode, r.stderr);
  return JSON.parse(r.stdout) as Status;
}

async function reboot(root: string): Promise<{ booted_slot: string; action: string }> {
  const r = await runAgent(['dev', 'reboot', '--root', root, '--json']);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as { booted_slot: string; action: string };
}

async function applyActivate(root: string): Promise<void> {
  const r = await runAgent(['--root', root, 'apply', '--activate']);
  assert.equal(r.code, 0, r.stderr);
}

for (const bootloader of ['grub', 'uboot', 'rpi-tryboot']) {
  describe(`${bootloader}: the update cycle on a simulated device`, () => {
    it('good update: activate, the bootloader tries B, the health check commits it, status says so', async () => {
      const root = await device(`${bootloader}-good`, bootloader);
      const fresh = await status(root);
      assert.deepEqual(
        [
          fresh.bootloader,
          fresh.active_slot,
          fresh.running_slot,
          fresh.boot_success,
          fresh.problems,
        ],
        [bootloader, 'A', 'A', true, []],
      );
      await applyActivate(root);
      const armed = await status(root);
      assert.deepEqual(
        [armed.active_slot, armed.boot_success, armed.state.phase],
        ['B', false, 'activated'],
      );
      assert.equal((await reboot(root)).booted_slot, 'B');
      const hc = await runAgent(['--root', root, 'healthcheck']);
      assert.equal(hc.code, 0, hc.stderr);
      const done = await status(root);
      assert.deepEqual(
        [
          done.running_slot,
          done.active_slot,
          done.boot_success,
          done.state.phase,
          done.slots.B.version,
        ],
        ['B', 'B', true, 'success', 'v1.1.0'],
      );
      for (let i = 0; i < 2; i++)
        assert.equal((await reboot(root)).booted_slot, 'B', 'committed: stays on B');
    });

    it('an update that is never committed falls back to A and is reported as BOOT_FALLBACK', async () => {
      const root = await device(`${bootloader}-bad`, bootloader);
      await applyActivate(root);
      // GRUB and U-Boot try B three times; the Pi firmware once. Nothing commits.
      const tries = bootloader === 'rpi-tryboot' ? 1 : 3;
      for (let i = 0; i < tries; i++)
        assert.equal((await reboot(root)).booted_slot, 'B', `try ${i + 1}`);
      assert.equal((await reboot(root)).booted_slot, 'A');
      const st = await status(root);
      assert.deepEqual(
        [
          st.running_slot,
          st.active_slot,
          st.boot_success,
          st.state.phase,
          st.state.reason,
          st.state.from_version,
        ],
        ['A', 'A', true, 'rolled_back', 'BOOT_FALLBACK', 'v1.0.0'],
      );
      assert.equal((await reboot(root)).booted_slot, 'A', 'no ping-pong');
    });
  });
}

describe('status with a damaged boot environment, per bootloader', () => {
  it('names the store that cannot be read and still reports the rest', async () => {
    const cases: [string, string, string, string][] = [
      ['grub', 'boot/grub/grubenv', 'grubenv', 'GRUBENV_CORRUPT'],
      ['uboot', 'boot/kubesolo.env', 'uboot-env', 'UBOOTENV_CORRUPT'],
      ['rpi-tryboot', 'boot/firmware/autoboot.txt', 'autoboot.txt', 'AUTOBOOT_INVALID'],
    ];
    for (const [bootloader, file, source, code] of cases) {
      const root = await device(`${bootloader}-damaged`, bootloader);
      const bytes = await readFile(join(root, file));
      bytes.fill(0x41, 0, 40); // a torn write: the first sector overwritten
      await writeFile(join(root, file), bytes);
      const st = await status(root, 1);
      assert.equal(st.bootloader, bootloader);
      assert.equal(st.active_slot, null);
      assert.equal(st.running_slot, 'A');
      assert.equal(st.slots.A.version, 'v1.0.0');
      assert.deepEqual(
        st.problems.map((p) => [p.source, p.code]),
        [[source, code]],
      );
    }
  });
});

describe('--bootloader for one run', () => {
  it('overrides update.conf, as the Kubernetes manifests pass it', async () => {
    const root = await device('flag', 'uboot');
    const conf = join(root, 'etc', 'kubesolo', 'update.conf');
    await writeFile(conf, (await readFile(conf, 'utf8')).replace(/^bootloader=.*\n/m, ''));
    const plain = await runAgent(['--root', root, 'status', '--json']);
    assert.equal(
      (JSON.parse(plain.stdout) as Status).bootloader,
      'grub',
      'update.conf says nothing: GRUB',
    );
    const r = await runAgent(['--root', root, '--bootloader', 'uboot', 'status', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const st = JSON.parse(r.stdout) as Status;
    assert.deepEqual(
      [st.bootloader, st.active_slot, st.boot_success, st.problems],
      ['uboot', 'A', true, []],
    );
    const bad = await runAgent(['--root', root, '--bootloader', 'lilo', 'status']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--bootloader/);
    const init = await runAgent(['dev', 'init-root', join(work, 'lilo'), '--bootloader', 'lilo']);
    assert.equal(init.code, 2);
    assert.match(
      init.stderr,
      /"code":"CONFIG_INVALID_VALUE".*--bootloader|--bootloader.*"code":"CONFIG_INVALID_VALUE"/,
    );
  });
});
