/**
 * Power cuts during an update, on the real boot chain. One device goes through three
 * cuts, each followed by a boot that must come up on a complete, verified slot with a
 * consistent agent state, then retries the update:
 *
 *   1. mid-download     (a `.part` file in the passive slot's `.incoming`, well short
 *                       of the image: downloads stream straight into the slot)
 *   2. mid-download of the initramfs, with the kernel already verified in the slot's
 *      `.incoming` (the retry must keep it and complete the image)
 *   3. right after the grubenv write of `activate` (active_slot=B on the ESP)
 *
 * A cut is: the guest freezes the agent (SIGSTOP) the moment the condition holds and
 * prints a line; the host kills QEMU on it (SIGKILL), losing all the guest still held in
 * memory. After cut 3 the next boot must be B, committed by its health check.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { bootStatus, rc, script, slotHashes } from './helpers/guest.js';
import { BUILD_DIR, controlDisk, Device, type Layout } from './helpers/image.js';
import type { BootResult } from './helpers/qemu.js';
import { publish } from './helpers/release.js';
import { assertCleanPoweroff, cmdline, fields, mark, setUp, skipReason } from './helpers/suite.js';

function releaseHashes(name: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of ['vmlinuz', 'kubesolo-os.gz', 'version']) {
    out[f] = createHash('sha256')
      .update(readFileSync(join(BUILD_DIR, 'releases', name, f)))
      .digest('hex');
  }
  return out;
}

/** The JSON log lines a control-script command printed (`NAME-log {...}`). */
function logOf(r: BootResult, name: string): Record<string, unknown>[] {
  return r.marks
    .filter((m) => m.startsWith(`${name}-log {`))
    .map((m) => JSON.parse(m.slice(name.length + 5)) as Record<string, unknown>);
}

/** Guest shell: the condition of each cut point, and what to report when it holds. */
const CUT_POINTS = String.raw`
passive_mount() { awk '$1 ~ /KSOLOB|vda3/ {print $2}' /proc/mounts | head -n1; }
cond_download() { mp=$(passive_mount); [ -n "$mp" ] && [ -n "$(find "$mp/.incoming" -name '*.part' -size +2048k 2>/dev/null)" ]; }
info_download() { mp=$(passive_mount); find "$mp/.incoming" -name '*.part' -exec stat -c '%n=%s' {} +; }
cond_slot() { mp=$(passive_mount); [ -n "$mp" ] && [ -f "$mp/.incoming/vmlinuz" ] && [ -n "$(find "$mp/.incoming" -name 'kubesolo-os.gz.part' -size +1024k 2>/dev/null)" ]; }
info_slot() { mp=$(passive_mount); find "$mp" -type f -exec stat -c '%n=%s' {} +; }
cond_grubenv() { grep -q '^active_slot=B$' /boot/grub/grubenv; }
info_grubenv() { grep -v '^#' /boot/grub/grubenv; }
`;

/**
 * Checks of a boot that follows a cut while the device must still be on A. The boot
 * itself ends in the next cut, so it never powers off cleanly; what it reported before
 * (and the ESP after) must show a complete v1 on A and nothing half-done selectable.
 */
async function assertStillOnA(
  dev: Device,
  r: BootResult,
  v1: Record<string, string>,
  // The GRUB environment on the ESP after the boot: untouched unless the cut came
  // after activate's write (then B is on trial, and must be readable and complete).
  grubenvAfter: Record<string, string> = { active_slot: 'A', boot_counter: '3', boot_success: '1' },
) {
  assert.equal(r.timedOut, false, 'the boot hit its time bound');
  assert.match(cmdline(r), /kubesolo\.slot=A/);
  const boot = fields(mark(r, 'boot '));
  assert.equal(boot.release, 'v1.0.0');
  assert.equal(boot.health, 'pass');
  assert.deepEqual(slotHashes(r, 'A'), v1, 'slot A is the complete v1 it was');
  assert.deepEqual(await dev.grubenv(), grubenvAfter);
  const st = bootStatus(r);
  assert.equal(st.running_slot, 'A');
  assert.equal(st.active_slot, 'A');
  // Nothing half-done may look ready to boot.
  assert.ok(
    !['staged', 'activated', 'verifying', 'success'].includes(st.state.phase),
    `phase after the cut: ${st.state.phase}`,
  );
}

describe('e2e: power cuts during apply and activate', { skip: skipReason }, () => {
  let layout: Layout;
  before(async () => {
    layout = await setUp();
  });

  it('always boots a complete slot and ends on v2 after three cuts', async () => {
    const dev = await Device.create('power-cut', layout);
    const rel = await publish('v2', 'v2.0.0', join(dev.dir, 'release'));
    const v1 = releaseHashes('v1');
    const v2 = releaseHashes('v2');
    const imageSize = statSync(join(BUILD_DIR, 'releases', 'v2', 'kubesolo-os.gz')).size;
    const cutLine = (what: string) => new RegExp(`^KSOLO-E2E: cut-now ${what}$`);

    // 1. Cut mid-download.
    const c1 = await controlDisk(
      dev.dir,
      'cut-download',
      script(`
slot_hashes A
serve /ctl/release || exit 1
${CUT_POINTS}
cut_when download cond_download info_download
agent apply apply --json
`),
      { release: rel },
    );
    const b1 = await dev.boot('A-cut-mid-download', { control: c1, cutOn: cutLine('download') });
    assert.equal(b1.timedOut, false, 'boot 1 hit its time bound before the cut');
    assert.ok(b1.cutAt, `never reached mid-download; marks: ${JSON.stringify(b1.marks)}`);
    const partial = /\.part=(\d+)/.exec(mark(b1, 'cut-info download'));
    assert.ok(partial, 'no partial file reported at the cut');
    assert.ok(Number(partial[1]) < imageSize, `cut after the download finished (${partial[1]})`);

    // 2. Boot: still A. Retry, cut while the initramfs streams into the slot (the
    //    kernel is verified there already).
    const c2 = await controlDisk(
      dev.dir,
      'cut-slot-write',
      script(`
slot_hashes A
serve /ctl/release || exit 1
${CUT_POINTS}
cut_when slot cond_slot info_slot
agent apply apply --json
`),
      { release: rel },
    );
    const b2 = await dev.boot('A-cut-mid-slot-write', { control: c2, cutOn: cutLine('slot') });
    await assertStillOnA(dev, b2, v1);
    assert.ok(b2.cutAt, `never reached the slot write; marks: ${JSON.stringify(b2.marks)}`);
    const kernelSize = statSync(join(BUILD_DIR, 'releases', 'v2', 'vmlinuz')).size;
    assert.match(
      mark(b2, 'cut-info slot'),
      new RegExp(`\\.incoming/vmlinuz=${kernelSize}\\b`),
      'the whole verified kernel was in the slot at the cut',
    );

    // 3. Boot: still A (B is half-written and was never selectable). Retry to the end,
    //    activate, cut right after the GRUB environment is written.
    const c3 = await controlDisk(
      dev.dir,
      'cut-grubenv',
      script(`
slot_hashes A
serve /ctl/release || exit 1
agent apply apply --json || exit 1
${CUT_POINTS}
cut_when grubenv cond_grubenv info_grubenv
agent activate activate --json
`),
      { release: rel },
    );
    const b3 = await dev.boot('A-cut-after-grubenv', { control: c3, cutOn: cutLine('grubenv') });
    await assertStillOnA(dev, b3, v1, { active_slot: 'B', boot_counter: '3', boot_success: '0' });
    assert.equal(rc(b3, 'apply'), 0, 'the retried apply must complete');
    // The retry kept the kernel verified before cut 2: not one byte of it fetched again.
    const kernel = logOf(b3, 'apply').find(
      (l) => l.msg === 'artifact verified' && l.artifact === 'vmlinuz',
    );
    assert.ok(kernel, `no "artifact verified" line for vmlinuz: ${JSON.stringify(b3.marks)}`);
    assert.equal(
      kernel.fetched,
      0,
      `the retry fetched the kernel again: ${JSON.stringify(kernel)}`,
    );
    assert.equal(kernel.resumed_from, kernelSize);
    assert.ok(
      b3.cutAt,
      `activate never wrote the GRUB environment; marks: ${JSON.stringify(b3.marks)}`,
    );
    assert.equal((await dev.grubenv()).active_slot, 'B', 'the cut came after the grubenv write');

    // 4. Boot: GRUB tries B, which is complete; its health check commits it.
    const c4 = await controlDisk(dev.dir, 'hashes', script('slot_hashes A\nslot_hashes B'));
    const b4 = await dev.boot('B-commit', { control: c4 });
    assertCleanPoweroff(b4);
    assert.match(cmdline(b4), /kubesolo\.slot=B/);
    assert.equal(fields(mark(b4, 'boot ')).release, 'v2.0.0');
    assert.equal(fields(mark(b4, 'boot ')).health, 'pass');
    assert.deepEqual(slotHashes(b4, 'B'), v2, 'slot B holds exactly the published v2');
    assert.deepEqual(slotHashes(b4, 'A'), v1, 'slot A still holds v1 (the fallback)');
    const st = bootStatus(b4);
    assert.equal(st.running_slot, 'B');
    assert.equal(st.boot_success, true);
    assert.equal(st.state.phase, 'success');
    assert.equal(st.state.to_version, 'v2.0.0');
    assert.deepEqual(await dev.grubenv(), {
      active_slot: 'B',
      boot_counter: '3',
      boot_success: '1',
    });
  });
});
