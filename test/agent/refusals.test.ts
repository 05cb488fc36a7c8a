/**
 * The lifecycle's refusals, each proved through the real agent bundle on a simulated
 * device (dir slots, a GRUB environment read by grub-editenv, a signed release on a
 * loopback server): the exit code, the reason code, what state.json records, and that
 * the GRUB environment and both slots are unchanged where they must be. The exit codes
 * and codes are written out here (the contract), not taken from src/agent/reasons.ts.
 */
import { strict as assert } from 'node:assert';
import { execFileSync, spawn } from 'node:child_process';
import { mkdir, readFile, unlink, writeFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { apply } from '../../src/agent/lifecycle/apply.js';
import { createAgentContext } from '../../src/agent/context.js';
import type { BootEnv } from '../../src/bootenv/types.js';
import { silentLogger } from '../../src/log.js';
import { AGENT_BIN, logLines, runAgent, runAgentJson, expectRefusal } from '../helpers/cli.js';
import {
  deviceSnapshot,
  makeKeys,
  publishRelease,
  readJson,
  type Device,
} from '../helpers/device.js';
import { grubEnv, grubSet } from '../helpers/grub-env.js';
import { requireRoot } from '../helpers/require-tool.js';
import { useSignedDevice, assertCommittedBoot } from '../helpers/device-fixture.js';
import { rejectsWithCode } from '../helpers/rejects.js';
import { assertCode } from '../helpers/code-assert.js';
import { loggedLine } from '../helpers/code-log-line.js';

const keys = makeKeys();
const STATE = 'var/lib/kubesolo/update/state.json';

const json = (args: string[]) => runAgentJson(args);

describe('lifecycle refusals', () => {
  const f = useSignedDevice(keys, { publish: 'v1.1.0' });

  const root = () => ['--root', f.dev.root];
  const stateText = () => readFile(f.dev.path(STATE), 'utf8');

  /** The refusal recorded as phase failed with its code; GRUB and both slots as before. */
  async function assertRecordedRefusal(
    r: Awaited<ReturnType<typeof json>>,
    code: string,
    exit: number,
    before: Record<string, string>,
  ): Promise<void> {
    expectRefusal(r, code, exit);
    const st = await readJson(f.dev.path(STATE));
    assert.equal(st.phase, 'failed');
    assert.equal(st.reason, code);
    assert.ok(String(st.last_error).length > 0);
    assert.deepEqual(await deviceSnapshot(f.dev), before);
    assert.ok(logLines(r.stderr).some((l) => l.code === code));
  }

  it('apply without kubesolo.slot= on the command line: RUNNING_SLOT_UNKNOWN, exit 3, nothing written', async () => {
    await writeFile(f.dev.path('proc/cmdline'), 'BOOT_IMAGE=/vmlinuz panic=10\n');
    // Not on trial: a refusal must not even "mark good" when it cannot tell which slot runs.
    grubSet(f.dev.path('boot/grub/grubenv'), { boot_success: '0' });
    const before = await deviceSnapshot(f.dev);
    const r = await json(['apply', ...root()]);
    await assertRecordedRefusal(r, 'RUNNING_SLOT_UNKNOWN', 3, before);
    assert.deepEqual(grubEnv(f.dev.path('boot/grub/grubenv')), {
      active_slot: 'A',
      boot_success: '0',
      boot_counter: '3',
    });
  });

  it('apply when the running slot has no version file: RUNNING_VERSION_UNKNOWN, exit 3, slot B untouched', async () => {
    await unlink(f.dev.path('slots/a/version'));
    const before = await deviceSnapshot(f.dev);
    const r = await json(['apply', ...root()]);
    await assertRecordedRefusal(r, 'RUNNING_VERSION_UNKNOWN', 3, before);
  });

  it('apply while an activation awaits its reboot: ACTIVATION_PENDING, exit 3, state and GRUB kept', async () => {
    assert.equal((await json(['apply', '--activate', ...root()])).code, 0);
    await publishRelease(f.releases.dir, { version: 'v1.2.0', keys });
    const before = await deviceSnapshot(f.dev);
    const stateBefore = await stateText();
    const r = await json(['apply', ...root()]);
    expectRefusal(r, 'ACTIVATION_PENDING', 3);
    // Not recorded as failed: the pending activation (slot B on trial) must not be lost.
    assert.equal(await stateText(), stateBefore);
    assert.equal((await readJson(f.dev.path(STATE))).phase, 'activated');
    assert.deepEqual(await deviceSnapshot(f.dev), before);
    assert.deepEqual(grubEnv(f.dev.path('boot/grub/grubenv')), {
      active_slot: 'B',
      boot_counter: '3',
      boot_success: '0',
    });
  });

  it('activate when the staged slot is the running one: TARGET_IS_RUNNING, exit 1, GRUB untouched', async () => {
    assert.equal((await json(['apply', ...root()])).code, 0);
    // The kernel says B runs, state.json says B is staged: they disagree; flip nothing.
    await f.dev.setRunningSlot('B');
    const before = await deviceSnapshot(f.dev);
    const r = await json(['activate', ...root()]);
    await assertRecordedRefusal(r, 'TARGET_IS_RUNNING', 1, before);
    assert.equal(grubEnv(f.dev.path('boot/grub/grubenv')).active_slot, 'A');
  });

  it('activate with no digests in state.json: STAGED_DIGESTS_MISSING, exit 4, GRUB untouched', async () => {
    assert.equal((await json(['apply', ...root()])).code, 0);
    const st = await readJson(f.dev.path(STATE));
    assert.equal(st.phase, 'staged');
    delete st.kernel_sha256;
    delete st.initramfs_sha256;
    await writeFile(f.dev.path(STATE), JSON.stringify(st));
    const before = await deviceSnapshot(f.dev);
    const r = await json(['activate', ...root()]);
    await assertRecordedRefusal(r, 'STAGED_DIGESTS_MISSING', 4, before);
  });

  it('activate when the staged slot holds another version: SLOT_VERSION_MISMATCH, exit 4, GRUB untouched', async () => {
    assert.equal((await json(['apply', ...root()])).code, 0);
    // The images still match their digests; only the version file says otherwise.
    await writeFile(f.dev.path('slots/b/version'), 'v9.9.9\n');
    const before = await deviceSnapshot(f.dev);
    const r = await json(['activate', ...root()]);
    await assertRecordedRefusal(r, 'SLOT_VERSION_MISMATCH', 4, before);
    assert.match(String((await readJson(f.dev.path(STATE))).last_error), /v9\.9\.9.*v1\.1\.0/);
  });

  it('rollback to the slot a killed update was writing: ROLLBACK_UNSAFE, exit 3, nothing changed', async () => {
    f.releases.server.setDelay(60_000);
    const child = spawn(process.execPath, [AGENT_BIN, 'apply', ...root()], { stdio: 'ignore' });
    const exited = new Promise((r) => child.on('exit', r));
    try {
      await waitFor(async () => (await phaseOf(f.dev)) === 'downloading');
    } finally {
      child.kill('SIGKILL');
      await exited;
    }
    f.releases.server.setDelay(0);
    const before = await deviceSnapshot(f.dev);
    const stateBefore = await stateText();
    const r = await json(['rollback', ...root()]);
    expectRefusal(r, 'ROLLBACK_UNSAFE', 3);
    assert.equal(await stateText(), stateBefore);
    assert.deepEqual(await deviceSnapshot(f.dev), before);
    assertCommittedBoot(f.dev, 'A');
  });

  it('apply with no update source: NO_UPDATE_SOURCE, exit 2, slot B untouched', async () => {
    await f.dev.writeConfig({
      slot_backend: 'dir',
      slot_a_dir: '/slots/a',
      slot_b_dir: '/slots/b',
    });
    const before = await deviceSnapshot(f.dev);
    const r = await json(['apply', ...root()]);
    await assertRecordedRefusal(r, 'NO_UPDATE_SOURCE', 2, before);
  });

  it('a dir slot store without slot_b_dir: CONFIG_MISSING_KEY, exit 2, no state written', async () => {
    await f.dev.writeConfig({
      slot_backend: 'dir',
      slot_a_dir: '/slots/a',
      server: f.releases.server.url,
    });
    const before = await deviceSnapshot(f.dev);
    const r = await json(['apply', ...root()]);
    expectRefusal(r, 'CONFIG_MISSING_KEY', 2);
    await assert.rejects(stateText(), { code: 'ENOENT' });
    assert.deepEqual(await deviceSnapshot(f.dev), before);
  });

  it('a state.json that cannot be read (a directory): STATE_READ_FAILED, exit 1, nothing written', async () => {
    await mkdir(f.dev.path(STATE), { recursive: true });
    const before = await deviceSnapshot(f.dev);
    const r = await json(['apply', ...root()]);
    expectRefusal(r, 'STATE_READ_FAILED', 1);
    assert.deepEqual(await deviceSnapshot(f.dev), before);
  });

  it('a lock that cannot be created (procfs takes no new files): LOCK_FAILED, exit 1, nothing written', async () => {
    // The state directory is /proc/self: it exists, reads work, creating a file fails.
    await mkdir(f.dev.path('var/lib/kubesolo'), { recursive: true });
    execFileSync('ln', ['-s', '/proc/self', f.dev.path('var/lib/kubesolo/update')]);
    const before = await deviceSnapshot(f.dev);
    const r = await json(['apply', ...root()]);
    expectRefusal(r, 'LOCK_FAILED', 1);
    assert.deepEqual(await deviceSnapshot(f.dev), before);
  });

  it('a reboot command that fails after rollback: REBOOT_FAILED, exit 1, the rollback itself recorded', async () => {
    assert.equal((await json(['apply', '--activate', ...root()])).code, 0);
    const r = await runAgent(['rollback', '--reboot', '--json', ...root()], {
      env: { KUBESOLO_UPDATE_REBOOT_COMMAND: 'exit 7' },
    });
    assert.equal(r.code, 1, r.stderr);
    loggedLine(r.stderr, 'REBOOT_FAILED', 1);
    // GRUB points back at A and the state says so: only the reboot request failed.
    assert.equal(grubEnv(f.dev.path('boot/grub/grubenv')).active_slot, 'A');
    assertCode((await readJson(f.dev.path(STATE))).reason, 'MANUAL_ROLLBACK');
  });

  it('the refusal is still reported when state.json cannot record it: exit 3, STATE_WRITE_FAILED logged', async (t) => {
    if (requireRoot(t, 'bind-mounts state.json onto itself so renaming over it fails (EBUSY)'))
      return;
    await mkdir(f.dev.path('var/lib/kubesolo/update'), { recursive: true });
    const previous = JSON.stringify({ phase: 'success', to_version: 'v1.0.0' }) + '\n';
    await writeFile(f.dev.path(STATE), previous);
    execFileSync('mount', ['--bind', f.dev.path(STATE), f.dev.path(STATE)]);
    try {
      await unlink(f.dev.path('slots/a/version'));
      const before = await deviceSnapshot(f.dev);
      const r = await json(['apply', ...root()]);
      expectRefusal(r, 'RUNNING_VERSION_UNKNOWN', 3);
      const logged = loggedLine(r.stderr, 'STATE_WRITE_FAILED');
      assert.match(String(logged.msg ?? logged.message), /could not record the failure/);
      assert.equal(await stateText(), previous);
      assert.deepEqual(await deviceSnapshot(f.dev), before);
    } finally {
      execFileSync('umount', [f.dev.path(STATE)]);
    }
  });

  it('apply when the GRUB environment does not keep "running slot good": BOOTENV_NOT_SETTLED, exit 1, slot B untouched', async () => {
    // Slot A runs on trial, so apply must commit it before writing B. The boot
    // environment below is the real GRUB one whose markGood is lost (as if another
    // writer put the old block back): apply must stop instead of writing slot B.
    grubSet(f.dev.path('boot/grub/grubenv'), { boot_success: '0' });
    const ctx = await createAgentContext(
      { root: f.dev.root, conf: undefined, state: undefined, configFlags: {}, strict: false },
      silentLogger,
    );
    const real = ctx.deps.bootEnv;
    const losesWrites: BootEnv = { ...real, markGood: () => Promise.resolve() };
    const before = await deviceSnapshot(f.dev);
    await rejectsWithCode(
      apply({ ...ctx.deps, bootEnv: losesWrites }, { force: false, allowDowngrade: false }),
      'BOOTENV_NOT_SETTLED',
      1,
    );
    const st = await readJson(f.dev.path(STATE));
    assert.equal(st.phase, 'failed');
    assertCode(st.reason, 'BOOTENV_NOT_SETTLED');
    assert.deepEqual(await deviceSnapshot(f.dev), before);
  });
});

async function phaseOf(dev: Device): Promise<unknown> {
  return (await readJson(dev.path(STATE)).catch((): Record<string, unknown> => ({}))).phase;
}

async function waitFor(cond: () => Promise<boolean>, timeoutMs = 90_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 20));
  }
}
