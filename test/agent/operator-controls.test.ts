/**
 * Operator controls (issue 25, item 2; docs/operating.md "Operator controls") through the
 * built agent on a simulated device: hold/unhold, commit, mark-bad with and without a
 * version, forget, each visible in status and refused with its own code where it makes
 * no sense.
 */
import { strict as assert } from 'node:assert';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { runAgentJson as json, expectRefusal } from '../helpers/cli.js';
import { deviceSnapshot, makeKeys, publishRelease, readJson } from '../helpers/device.js';
import { grubEnv } from '../helpers/grub-env.js';
import { useSignedDevice } from '../helpers/device-fixture.js';
import { assertCode } from '../helpers/code-assert.js';

/** The code of `gate`'s verdict in `check --json`. */
function gateCode(doc: Record<string, unknown>, gate: string): unknown {
  return (doc.gates as { gate: string; code: unknown }[]).find((g) => g.gate === gate)?.code;
}

const keys = makeKeys();

describe('operator controls', () => {
  const f = useSignedDevice(keys, {
    config: { health_checks: 'disk_writable' },
    publish: 'v1.1.0',
  });
  const root = f.root;
  const state = () => readJson(f.dev.path('var/lib/kubesolo/update/state.json'));
  const grub = () => grubEnv(f.dev.path('boot/grub/grubenv'));

  it('hold stops apply, activate and check (not even --force passes) until unhold', async () => {
    const h = await json(['hold', '--reason', 'investigating INC-42', ...root()]);
    assert.equal(h.code, 0, h.stderr);
    const before = await deviceSnapshot(f.dev);
    for (const args of [['apply'], ['apply', '--force'], ['check']]) {
      const r = await json([...args, ...root()]);
      assert.equal(r.code, 3, `${args.join(' ')}: ${r.stderr}`);
      const code = r.doc.error?.code ?? gateCode(r.doc, 'hold');
      assertCode(code, 'HELD', 3, args.join(' '));
    }
    assert.deepEqual(await deviceSnapshot(f.dev), before, 'nothing written while held');
    const s = await json(['status', ...root()]);
    assert.equal(s.doc.held.reason, 'investigating INC-42');
    assert.equal((await json(['unhold', ...root()])).doc.was_held, true);
    assert.equal((await json(['unhold', ...root()])).doc.was_held, false);
    assert.equal((await json(['apply', ...root()])).code, 0);
  });

  it('a hold placed after staging stops the activation; the update stays staged', async () => {
    assert.equal((await json(['apply', ...root()])).code, 0);
    assert.equal((await json(['hold', ...root()])).code, 0);
    const a = await json(['activate', '--force', ...root()]);
    expectRefusal(a, 'HELD', 3);
    assert.equal((await state()).phase, 'staged');
    assert.equal(grub().active_slot, 'A');
  });

  it('hold cannot be written where the state directory cannot be: HOLD_WRITE_FAILED', async () => {
    await mkdir(f.dev.path('var/lib/kubesolo'), { recursive: true });
    await writeFile(f.dev.path('var/lib/kubesolo/update'), 'a file, not a directory');
    const h = await json(['hold', ...root()]);
    expectRefusal(h, 'HOLD_WRITE_FAILED', 1);
  });

  it('commit: refused with nothing on trial or before its boot; commits the running trial', async () => {
    const idle = await json(['commit', ...root()]);
    expectRefusal(idle, 'NOTHING_ON_TRIAL', 3);
    assert.equal((await json(['apply', '--activate', ...root()])).code, 0);
    const early = await json(['commit', ...root()]);
    expectRefusal(early, 'TRIAL_NOT_RUNNING', 3);
    assert.match(early.doc.error.message, /not booted yet/);
    assert.equal(await f.dev.reboot(), 'B');
    const c = await json(['commit', ...root()]);
    assert.equal(c.code, 0, c.stderr);
    assert.deepEqual(grub(), { active_slot: 'B', boot_counter: '3', boot_success: '1' });
    const st = await state();
    assert.equal(st.phase, 'success');
    const s = await json(['status', ...root()]);
    assert.equal(s.doc.floor.version, 'v1.1.0');
    // Committed: the next boot stays on B.
    assert.equal(await f.dev.reboot(), 'B');
  });

  it('mark-bad on a trial: quarantined and rolled back (--reboot reboots); the next apply refuses it', async () => {
    const refused = await json(['mark-bad', ...root()]);
    expectRefusal(refused, 'NOTHING_ON_TRIAL', 3);
    assert.equal((await json(['apply', '--activate', ...root()])).code, 0);
    assert.equal(await f.dev.reboot(), 'B');
    const m = await json(['mark-bad', '--reboot', ...root()], {
      env: { KUBESOLO_UPDATE_REBOOT_COMMAND: `touch ${f.dev.path('rebooted')}` },
    });
    assert.equal(m.code, 0, m.stderr);
    assert.equal(m.doc.version, 'v1.1.0');
    assert.equal(m.doc.quarantined, true);
    assert.ok(existsSync(f.dev.path('rebooted')), '--reboot ran the reboot command');
    assert.deepEqual(grub(), { active_slot: 'A', boot_counter: '3', boot_success: '1' });
    assert.equal((await state()).phase, 'rolled_back');
    assert.equal(await f.dev.reboot(), 'A');
    const a = await json(['apply', ...root()]);
    expectRefusal(a, 'QUARANTINED', 3);
    assert.match(a.doc.error.message, /MARKED_BAD/);
  });

  it('mark-bad VERSION quarantines it and un-stages it when staged; forget releases it', async () => {
    assert.equal((await json(['apply', ...root()])).code, 0);
    const m = await json(['mark-bad', 'v1.1.0', ...root()]);
    assert.equal(m.code, 0, m.stderr);
    assert.equal(m.doc.unstaged, true);
    const st = await state();
    assert.equal(st.phase, 'idle');
    assertCode(st.reason, 'MARKED_BAD');
    const act = await json(['activate', '--force', ...root()]);
    expectRefusal(act, 'NOTHING_STAGED', 3);
    // Every image of the version is refused, not only the staged ones.
    await publishRelease(f.releases.dir, { version: 'v1.1.0', keys });
    assert.equal((await json(['check', ...root()])).code, 3);
    assert.equal((await json(['forget', 'v1.1.0', ...root()])).code, 0);
    assert.equal((await json(['apply', ...root()])).code, 0);
  });

  it('mark-bad and forget name a release version; forget of one never quarantined is refused', async () => {
    const bad = await json(['mark-bad', 'not a version', ...root()]);
    expectRefusal(bad, 'INVALID_VERSION', 2);
    const unknown = await json(['forget', 'v9.9.9', ...root()]);
    expectRefusal(unknown, 'NOT_QUARANTINED', 3);
    assert.match(unknown.doc.error.message, /nothing is quarantined/);
  });
});

describe('a rollback waiting for its reboot', () => {
  const f = useSignedDevice(keys, {
    config: { health_checks: 'disk_writable' },
    publish: 'v1.1.0',
  });
  const root = f.root;

  it('is not undone by the next apply (ROLLBACK_PENDING, exit 3): GRUB keeps the old slot', async () => {
    assert.equal((await json(['apply', '--activate', ...root()])).code, 0);
    assert.equal(await f.dev.reboot(), 'B');
    assert.equal((await json(['healthcheck', '--timeout', '0', ...root()])).code, 0);
    // A newer release on offer, so apply has something to do; the rollback is not rebooted yet.
    await publishRelease(f.releases.dir, { version: 'v1.2.0', keys });
    assert.equal((await json(['rollback', ...root()])).code, 0);
    const pending = grubEnv(f.dev.path('boot/grub/grubenv'));
    assert.deepEqual(pending, { active_slot: 'A', boot_counter: '3', boot_success: '1' });
    for (const args of [['check'], ['apply', '--activate'], ['apply', '--force']]) {
      const r = await json([...args, ...root()]);
      assert.equal(r.code, 3, `${args.join(' ')}: ${r.stderr}`);
      const code = r.doc.error?.code ?? gateCode(r.doc, 'pending_rollback');
      assertCode(code, 'ROLLBACK_PENDING', 3, args.join(' '));
    }
    assert.deepEqual(
      grubEnv(f.dev.path('boot/grub/grubenv')),
      pending,
      'the rollback still stands',
    );
    assert.equal(await f.dev.reboot(), 'A');
    // Rebooted into it: updates go on (v1.2.0 is not the release it left).
    assert.equal((await json(['apply', ...root()])).code, 0);
  });
});
