import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { readdir, readFile, utimes, writeFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { acquireLock } from '../../src/stores/lock.js';
import { canStartAttempt, canTransition, PHASES } from '../../src/stores/phases.js';
import { createStateStore, idleState, parseStateFile } from '../../src/stores/state.js';
import { silentLogger } from '../../src/log.js';
import { PHASE_NAMES } from '../helpers/contract.js';
import { rejectsWithCode } from '../helpers/rejects.js';
import { useTempDir } from '../helpers/tree.js';

const clock = { now: () => new Date('2026-03-01T12:00:00Z') };

describe('state.json store', () => {
  const tmp = useTempDir('ks-state-');

  it('a missing file is idle', async () => {
    const store = createStateStore(tmp.path('state.json'), clock, silentLogger);
    assert.deepEqual((await store.read()).state, idleState());
  });

  it('writes the docs/design.md §3.5 keys and reads them back', async () => {
    const path = tmp.path('sub', 'state.json');
    const store = createStateStore(path, clock, silentLogger);
    const s = await store.transition(idleState(), 'checking', {
      fromVersion: 'v1.0.0',
      startedAt: clock.now().toISOString(),
      attemptCount: 1,
    });
    const file = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
    for (const key of [
      'phase',
      'from_version',
      'to_version',
      'target_slot',
      'started_at',
      'updated_at',
      'last_error',
      'reason',
      'attempt_count',
      'health_check_failures',
    ]) {
      assert.ok(key in file, key);
    }
    assert.equal(file.phase, 'checking');
    assert.equal(file.updated_at, '2026-03-01T12:00:00.000Z');
    assert.deepEqual((await store.read()).state, s);
  });

  it('refuses transitions the lifecycle does not allow', async () => {
    const store = createStateStore(tmp.path('state.json'), clock, silentLogger);
    await rejectsWithCode(store.transition(idleState(), 'activated'), 'INVALID_TRANSITION', 1);
    await rejectsWithCode(store.transition(idleState(), 'success'), 'INVALID_TRANSITION', 1);
  });

  for (const [name, content] of [
    ['garbage', '{"phase": "sta'],
    ['not an object', '[1,2]'],
    ['unknown phase', '{"phase":"exploded"}'],
    ['unknown schema', '{"schema_version": 99, "phase":"idle"}'],
    ['bad slot', '{"phase":"staged","target_slot":"C"}'],
    ['bad count', '{"phase":"idle","attempt_count":-1}'],
    ['empty', ''],
  ] as const) {
    it(`a corrupt file (${name}): read is STATE_CORRUPT and changes nothing`, async () => {
      const path = tmp.path('state.json');
      await writeFile(path, content);
      const store = createStateStore(path, clock, silentLogger);
      await rejectsWithCode(store.read(), 'STATE_CORRUPT', 1);
      assert.deepEqual(await readdir(tmp.dir), ['state.json']);
      assert.equal(await readFile(path, 'utf8'), content);
    });

    it(`a corrupt file (${name}): recover moves it aside and starts from idle`, async () => {
      const path = tmp.path('state.json');
      await writeFile(path, content);
      const store = createStateStore(path, clock, silentLogger);
      const r = await store.recover();
      assert.deepEqual(r.state, idleState());
      assert.ok(r.corruptPath?.startsWith(`${path}.corrupt-2026-03-01T12-00-00`));
      assert.equal(await readFile(r.corruptPath!, 'utf8'), content);
      assert.deepEqual(
        (await readdir(tmp.dir)).filter((f) => f === 'state.json'),
        [],
      );
    });
  }

  it('reads a state file written by the Go agent (no schema_version)', () => {
    const s = parseStateFile(
      JSON.stringify({
        phase: 'success',
        from_version: 'v0.2.0',
        to_version: 'v0.3.0',
        target_slot: 'B',
        attempt_count: 1,
        health_check_failures: 0,
        last_error: '',
      }),
    );
    assert.equal(s.phase, 'success');
    assert.equal(s.targetSlot, 'B');
    assert.equal(s.lastError, undefined);
  });
});

describe('phases', () => {
  it('the state machine has exactly the nine documented phases', () => {
    assert.deepEqual([...PHASES], [...PHASE_NAMES]);
  });

  it('a new attempt may start from idle, any terminal phase, or an interrupted one', () => {
    const allowed = PHASE_NAMES.filter(canStartAttempt);
    assert.deepEqual(
      allowed.sort(),
      ['checking', 'downloading', 'failed', 'idle', 'rolled_back', 'staged', 'success'].sort(),
    );
  });

  it('success is only reachable after an activation', () => {
    const into = PHASE_NAMES.filter((p) => p !== 'success' && canTransition(p, 'success'));
    assert.deepEqual(into.sort(), ['activated', 'verifying']);
  });

  it('activated is only reachable from staged', () => {
    const into = PHASE_NAMES.filter((p) => p !== 'activated' && canTransition(p, 'activated'));
    assert.deepEqual(into.sort(), ['staged', 'verifying']);
  });
});

describe('lock', () => {
  const tmp = useTempDir('ks-lock-');

  it('excludes a second holder while the first lives', async () => {
    const path = tmp.path('update.lock');
    // The first holder is another live process.
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)']);
    try {
      await writeFile(path, `${child.pid}\n`);
      await rejectsWithCode(acquireLock(path), 'LOCKED', 1);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('takes over a stale lock whose owner is gone', async () => {
    const path = tmp.path('update.lock');
    const child = spawn(process.execPath, ['-e', '0']);
    const pid = child.pid;
    await new Promise((r) => child.on('exit', r));
    await writeFile(path, `${pid}\n`);
    const lock = await acquireLock(path);
    assert.equal(JSON.parse(await readFile(path, 'utf8')).pid, process.pid);
    await lock.release();
    assert.deepEqual(await readdir(tmp.dir), []);
  });

  it('takes over an empty lock file (crash between create and write)', async () => {
    const path = tmp.path('update.lock');
    await writeFile(path, '');
    // Older than the few seconds another run may take between create and write.
    await utimes(path, new Date(Date.now() - 60_000), new Date(Date.now() - 60_000));
    const lock = await acquireLock(path);
    assert.equal(JSON.parse(await readFile(path, 'utf8')).pid, process.pid);
    await lock.release();
    assert.deepEqual(await readdir(tmp.dir), []);
  });
});
