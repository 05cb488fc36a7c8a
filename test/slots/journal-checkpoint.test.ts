/**
 * The journal checkpoint before activation, on real ext4 filesystems on loop devices
 * (root only). The oracle is `debugfs`, which like GRUB reads the disk without
 * replaying the journal, run on a copy of the image: the disk as a power cut would
 * leave it.
 */
import { strict as assert } from 'node:assert';
import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { promisify } from 'node:util';
import { before, describe, it } from 'node:test';
import { createLogger } from '../../src/log.js';
import { createBlockSlotStore } from '../../src/slots/block-store.js';
import { createDirSlotStore } from '../../src/slots/dir-store.js';
import { checkpointJournal } from '../../src/slots/journal-checkpoint.js';
import type { RunResult } from '../../src/slots/block-device.js';
import { loopSkipReason, useLoopDisks, type LoopDisk } from '../helpers/loop.js';
import { loggedLine } from '../helpers/code-log-line.js';
import { stageImage } from './fixtures.js';

const exec = promisify(execFile);
const skip = await loopSkipReason();

function capturingLogger() {
  const stream = new PassThrough();
  const lines: Record<string, unknown>[] = [];
  stream.on('data', (d: Buffer) => {
    for (const l of d.toString().split('\n').filter(Boolean))
      lines.push(JSON.parse(l) as Record<string, unknown>);
  });
  return { log: createLogger({ level: 'debug', json: true, stream }), lines };
}

/** `ls` of a directory in an ext4 image as debugfs sees it (no journal replay). */
async function namesWithoutJournal(image: string, dir: string): Promise<string[]> {
  const { stdout } = await exec('debugfs', ['-R', `ls ${dir}`, image]).catch(
    (err: { stdout?: string }) => ({ stdout: err.stdout ?? '' }),
  );
  return stdout.split(/\s+/).filter((w) => /^[a-z]/.test(w));
}

describe('checkpointJournal', () => {
  it('leaves a filesystem alone that is the root filesystem or has no journal', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ks-ckpt-'));
    const calls: string[][] = [];
    const runTool = (cmd: string, args: string[]): Promise<RunResult> => {
      calls.push([cmd, ...args]);
      return Promise.resolve({ code: 0, stdout: '', stderr: '' });
    };
    try {
      const { log } = capturingLogger();
      // The directory itself as "root": whatever its filesystem, it must not be frozen.
      const outcome = await checkpointJournal(dir, { log, runTool, rootDir: dir });
      assert.ok(['root-filesystem', 'not-journaled'].includes(outcome), outcome);
      assert.deepEqual(calls, []);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('journal checkpoint on a mounted ext4 slot (loop device)', { skip }, () => {
  const loop = useLoopDisks('KC', [32]);
  let work: string;
  let disk: LoopDisk;
  let mnt: string;

  before(async () => {
    work = loop.work;
    disk = loop.disks[0]!;
    mnt = join(work, 'mnt');
    await mkdir(mnt);
    await exec('mount', ['-t', 'ext4', disk.device, mnt]);
  });

  it('an ext4 slot on the root filesystem is not frozen: SLOT_CHECKPOINT_SKIPPED logged', async () => {
    const calls: string[][] = [];
    const runTool = (cmd: string, args: string[]): Promise<RunResult> => {
      calls.push([cmd, ...args]);
      return Promise.resolve({ code: 0, stdout: '', stderr: '' });
    };
    const { log, lines } = capturingLogger();
    // The mounted ext4 itself as "/": freezing it would freeze the running system.
    assert.equal(await checkpointJournal(mnt, { log, runTool, rootDir: mnt }), 'root-filesystem');
    assert.deepEqual(calls, []);
    assert.equal(loggedLine(lines, 'SLOT_CHECKPOINT_SKIPPED').dir, mnt);
  });

  it('makes a freshly written slot visible to a reader that does not replay the journal', async () => {
    const staging = await mkdtemp(join(work, 'staging-'));
    const v2 = await stageImage(staging, '2.0.0', { kernel: 1 << 20, initramfs: 2 << 20 });
    const { log, lines } = capturingLogger();
    // Control: after write (every file and directory fsynced) the new entries are
    // only in the journal. This is the disk GRUB met after the QEMU power cut. Under
    // memory pressure from other jobs the kernel's writeback may checkpoint on its own
    // before the copy: then the control cannot show anything, and the write is tried
    // again into a fresh slot directory (at most three times, then the test fails).
    let slotDir = '';
    let store: ReturnType<typeof createDirSlotStore> | undefined;
    for (let attempt = 1; attempt <= 3 && store === undefined; attempt++) {
      slotDir = `b${attempt}`;
      const candidate = createDirSlotStore({ A: join(mnt, 'a'), B: join(mnt, slotDir) }, { log });
      await candidate.write('B', v2.image, v2.digests);
      const before = join(work, `before-${attempt}.img`);
      await copyFile(disk.image, before);
      const visible = await namesWithoutJournal(before, `/${slotDir}`);
      await rm(before);
      if (visible.length === 0) store = candidate;
    }
    assert.ok(
      store,
      'the new slot was in place without a checkpoint three times: this test cannot show the fix',
    );

    await store.flushForBootloader('B');
    const afterCut = join(work, 'after.img');
    await copyFile(disk.image, afterCut);
    assert.deepEqual((await namesWithoutJournal(afterCut, `/${slotDir}`)).sort(), [
      'kubesolo-os.gz',
      'version',
      'vmlinuz',
    ]);
    const { stdout: version } = await exec('debugfs', ['-R', `cat /${slotDir}/version`, afterCut]);
    assert.equal(version.trim(), '2.0.0');
    assert.ok(lines.some((l) => l.msg === 'slot journal checkpointed'));

    // Thawed: the slot can be written again at once.
    const v3 = await stageImage(staging, '3.0.0');
    await store.write('B', v3.image, v3.digests);
    assert.equal(await store.readVersion('B'), '3.0.0');
  });

  it('block store: checkpoints a partition that was already mounted (it does not unmount it)', async () => {
    const staging = await mkdtemp(join(work, 'staging-'));
    const v1 = await stageImage(staging, '1.0.0', { kernel: 1 << 20, initramfs: 1 << 20 });
    const { log } = capturingLogger();
    const store = createBlockSlotStore({ labels: { A: disk.label, B: 'KS-UNUSED' }, log });
    await store.write('A', v1.image, v1.digests);
    const before = join(work, 'block-before.img');
    await copyFile(disk.image, before);
    assert.ok(
      !(await namesWithoutJournal(before, '/')).includes('vmlinuz'),
      'the new slot is already in place without a checkpoint: this test cannot show the fix',
    );
    await store.flushForBootloader('A');
    const afterCut = join(work, 'block-after.img');
    await copyFile(disk.image, afterCut);
    const names = await namesWithoutJournal(afterCut, '/');
    for (const f of ['vmlinuz', 'kubesolo-os.gz', 'version']) assert.ok(names.includes(f), f);
  });

  it('warns and carries on when fsfreeze is missing or refuses', async () => {
    const dir = join(mnt, 'a');
    await mkdir(dir, { recursive: true });
    const missing = capturingLogger();
    const outcome = await checkpointJournal(dir, {
      log: missing.log,
      runTool: () => Promise.reject(new Error('spawn fsfreeze ENOENT')),
    });
    assert.equal(outcome, 'unavailable');
    loggedLine(missing.lines, 'SLOT_CHECKPOINT_UNAVAILABLE');

    const refused = capturingLogger();
    const outcome2 = await checkpointJournal(dir, {
      log: refused.log,
      runTool: () => Promise.resolve({ code: 1, stdout: '', stderr: 'Operation not permitted' }),
    });
    assert.equal(outcome2, 'failed');
    loggedLine(refused.lines, 'SLOT_CHECKPOINT_FAILED');
  });

  it('retries a failed thaw and reports it when the filesystem stays frozen', async () => {
    const dir = join(mnt, 'a');
    await mkdir(dir, { recursive: true });
    const { log, lines } = capturingLogger();
    const calls: string[] = [];
    // Really freeze; make the first thaws fail, then really thaw (so the test leaves
    // nothing frozen), counting the attempts.
    const runTool = async (cmd: string, args: string[]): Promise<RunResult> => {
      calls.push(args[0]!);
      if (args[0] === '--unfreeze' && calls.length < 4) {
        return { code: 1, stdout: '', stderr: 'injected' };
      }
      const { stdout, stderr } = await exec(cmd, args);
      return { code: 0, stdout, stderr };
    };
    assert.equal(await checkpointJournal(dir, { log, runTool }), 'checkpointed');
    assert.deepEqual(calls, ['--freeze', '--unfreeze', '--unfreeze', '--unfreeze']);
    assert.ok(!lines.some((l) => l.code === 'SLOT_THAW_FAILED'));

    const stuck = capturingLogger();
    const frozenCalls: string[] = [];
    const neverThaws = (_cmd: string, args: string[]): Promise<RunResult> => {
      frozenCalls.push(args[0]!);
      return Promise.resolve(
        args[0] === '--freeze'
          ? { code: 0, stdout: '', stderr: '' }
          : { code: 1, stdout: '', stderr: 'injected' },
      );
    };
    assert.equal(
      await checkpointJournal(dir, { log: stuck.log, runTool: neverThaws }),
      'checkpointed',
    );
    assert.equal(frozenCalls.filter((c) => c === '--unfreeze').length, 5);
    loggedLine(stuck.lines, 'SLOT_THAW_FAILED');
  });
});
