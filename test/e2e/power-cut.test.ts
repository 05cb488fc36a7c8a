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
import { bootStatus, rc, script, slotHashes } from './helpers/guest.js';
import { BUILD_DIR, controlDisk, Device } from './helpers/image.js';
import type { BootResult } from './helpers/qemu.js';
import { publish } from './helpers/release.js';
import { assertCleanPoweroff, cmdline, fields, mark } from './helpers/marks.js';
import { committed, onTrial, scenario } from './helpers/scenario.js';
import { suite } from './helpers/suite.js';

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
 * A boot of A that serves the release, runs `steps.before`, arms the cut at `point`
 * (cond_<point>, info_<point> above) and runs `steps.then`: the host cuts the power on
 * the guest's "cut-now <point>" line.
 */
async function bootToCut(
  dev: Device,
  release: string,
  label: string,
  point: 'download' | 'slot' | 'grubenv',
  steps: { before?: string; then: string },
): Promise<BootResult> {
  const control = await controlDisk(
    dev.dir,
    label,
    script(`
slot_hashes A
serve /ctl/release || exit 1
${steps.before ?? ''}
${CUT_POINTS}
cut_when ${point} cond_${point} info_${point}
${steps.then}
`),
    { release },
  );
  return dev.boot(label, { control, cutOn: new RegExp(`^KSOLO-E2E: cut-now ${point}$`) });
}

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
  grubenvAfter = committed('A'),
) {
  assert.equal(r.timedOut, false, 'the boot hit its time bound');
  assert.match(cmdline(r), /kubesolo\.slot=A/);
  const boot = fields(mark(r, 'boot '));
  assert.equal(boot.release, 'v1.0.0');
  assert.equal(boot.health, 'pass');
  assert.deepEqual(slotHashes(r, 'A'), v1, 'slot A is the complete v1 it was');
  assert.deepEqual(await dev.bootEnv(), grubenvAfter);
  const st = bootStatus(r);
  assert.equal(st.running_slot, 'A');
  assert.equal(st.active_slot, 'A');
  // Nothing half-done may look ready to boot.
  assert.ok(
    !['staged', 'activated', 'verifying', 'success'].includes(st.state.phase),
    `phase after the cut: ${st.state.phase}`,
  );
}

scenario(
  suite,
  {
    title: 'e2e: power cuts during apply and activate',
    test: 'always boots a complete slot and ends on v2 after three cuts',
    device: 'power-cut',
  },
  async (dev) => {
    const rel = await publish('v2', 'v2.0.0', join(dev.dir, 'release'));
    const v1 = releaseHashes('v1');
    const v2 = releaseHashes('v2');
    const imageSize = statSync(join(BUILD_DIR, 'releases', 'v2', 'kubesolo-os.gz')).size;

    // 1. Cut mid-download.
    const b1 = await bootToCut(dev, rel, 'A-cut-mid-download', 'download', {
      then: 'agent apply apply --json',
    });
    assert.equal(b1.timedOut, false, 'boot 1 hit its time bound before the cut');
    assert.ok(b1.cutAt, `never reached mid-download; marks: ${JSON.stringify(b1.marks)}`);
    const partial = /\.part=(\d+)/.exec(mark(b1, 'cut-info download'));
    assert.ok(partial, 'no partial file reported at the cut');
    assert.ok(Number(partial[1]) < imageSize, `cut after the download finished (${partial[1]})`);

    // 2. Boot: still A. Retry, cut while the initramfs streams into the slot (the
    //    kernel is verified there already).
    const b2 = await bootToCut(dev, rel, 'A-cut-mid-slot-write', 'slot', {
      then: 'agent apply apply --json',
    });
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
    const b3 = await bootToCut(dev, rel, 'A-cut-after-grubenv', 'grubenv', {
      before: 'agent apply apply --json || exit 1',
      then: 'agent activate activate --json',
    });
    await assertStillOnA(dev, b3, v1, onTrial('B'));
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
    assert.equal((await dev.bootEnv()).active_slot, 'B', 'the cut came after the grubenv write');

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
    assert.deepEqual(await dev.bootEnv(), committed('B'));
  },
);
