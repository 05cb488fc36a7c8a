/**
 * The whole update cycle through the built agent on simulated devices of every
 * bootloader (`dev init-root --bootloader grub|uboot|rpi-tryboot`): a good update is
 * applied, activated, booted by the bootloader's rules (`dev reboot`), committed by the
 * health check and reported by `status`; an update that is never committed falls back
 * and is reported as BOOT_FALLBACK. The release is published by `kubesolo-release` and
 * served on loopback.
 */
import { strict as assert } from 'node:assert';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { runAgent } from '../helpers/cli.js';
import { usePublishedSite } from './published-site.js';

const published = usePublishedSite('ksu-bootloaders-', { kernel: 200_000, initramfs: 400_000 });

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

/** The fields of `status --json` the tests compare, the state's and slot B's version flattened. */
function statusFields(st: Status) {
  return {
    bootloader: st.bootloader,
    running_slot: st.running_slot,
    active_slot: st.active_slot,
    boot_success: st.boot_success,
    problems: st.problems,
    phase: st.state?.phase,
    reason: st.state?.reason,
    from_version: st.state?.from_version,
    version_b: st.slots.B.version,
  };
}
type StatusFields = ReturnType<typeof statusFields>;

/** `st` holds `expected` in the fields it names; the fields it leaves out are not compared. */
function assertStatus(st: Status, expected: Partial<StatusFields>): void {
  const all = statusFields(st);
  const named = Object.keys(expected).map((k) => [k, all[k as keyof StatusFields]]);
  assert.deepEqual(Object.fromEntries(named), expected);
}

async function device(name: string, bootloader: string): Promise<string> {
  const root = join(published.work, name);
  const r = await runAgent([
    ...['dev', 'init-root', root, '--installed-version', 'v1.0.0'],
    ...[
      '--server',
      `${published.base}latest.json`,
      '--pubkey',
      published.pubHex,
      '--bootloader',
      bootloader,
    ],
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
      assertStatus(await status(root), {
        bootloader,
        active_slot: 'A',
        running_slot: 'A',
        boot_success: true,
        problems: [],
      });
      await applyActivate(root);
      assertStatus(await status(root), {
        active_slot: 'B',
        boot_success: false,
        phase: 'activated',
      });
      assert.equal((await reboot(root)).booted_slot, 'B');
      const hc = await runAgent(['--root', root, 'healthcheck']);
      assert.equal(hc.code, 0, hc.stderr);
      assertStatus(await status(root), {
        running_slot: 'B',
        active_slot: 'B',
        boot_success: true,
        phase: 'success',
        version_b: 'v1.1.0',
      });
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
      assertStatus(await status(root), {
        running_slot: 'A',
        active_slot: 'A',
        boot_success: true,
        phase: 'rolled_back',
        reason: 'BOOT_FALLBACK',
        from_version: 'v1.0.0',
      });
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
    assertStatus(JSON.parse(r.stdout) as Status, {
      bootloader: 'uboot',
      active_slot: 'A',
      boot_success: true,
      problems: [],
    });
    const bad = await runAgent(['--root', root, '--bootloader', 'lilo', 'status']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--bootloader/);
    const init = await runAgent([
      'dev',
      'init-root',
      join(published.work, 'lilo'),
      '--bootloader',
      'lilo',
    ]);
    assert.equal(init.code, 2);
    assert.match(
      init.stderr,
      /"code":"CONFIG_INVALID_VALUE".*--bootloader|--bootloader.*"code":"CONFIG_INVALID_VALUE"/,
    );
  });
});
