/**
 * Issue 13, finding 2: a lock names its owner by pid, process start time and boot id,
 * so neither a reboot nor a reused pid (pid 1 is always alive) can keep it held.
 */
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { readFile, utimes, writeFile } from 'node:fs/promises';
import { beforeEach, describe, it } from 'node:test';
import { acquireLock, processStartTime } from '../../src/stores/lock.js';
import { rejectsWithCode } from '../helpers/rejects.js';
import { useTempDir } from '../helpers/tree.js';

const bootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
const otherBootId = '00000000-0000-4000-8000-000000000000';

describe('run lock: pid + start time + boot id', () => {
  const tmp = useTempDir('ks-lock-');
  let path: string;
  beforeEach(() => (path = tmp.path('update.lock')));

  it('records the three facts of its owner', async () => {
    const lock = await acquireLock(path);
    const owner = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
    assert.equal(owner.pid, process.pid);
    assert.equal(owner.startTime, processStartTime(process.pid));
    assert.equal(owner.bootId, bootId);
    await lock.release();
  });

  it('a lock of pid 1 from an earlier boot (always-alive pid) is taken over', async () => {
    await writeFile(
      path,
      JSON.stringify({ pid: 1, startTime: processStartTime(1), bootId: otherBootId }),
    );
    const lock = await acquireLock(path);
    assert.equal(JSON.parse(await readFile(path, 'utf8')).pid, process.pid);
    await lock.release();
  });

  it('a reused pid (same pid, other start time) does not hold the lock', async () => {
    await writeFile(path, JSON.stringify({ pid: 1, startTime: '1', bootId }));
    const lock = await acquireLock(path);
    await lock.release();
  });

  it('a bare-pid lock (older agents) written before this boot is stale even for pid 1', async () => {
    await writeFile(path, '1\n');
    const longAgo = new Date(Date.UTC(2000, 0, 1));
    await utimes(path, longAgo, longAgo);
    const lock = await acquireLock(path);
    await lock.release();
  });

  it('a bare-pid lock of a live process written in this boot is held', async () => {
    await writeFile(path, '1\n');
    await rejectsWithCode(acquireLock(path), 'LOCKED', 1);
  });

  it('a live owner in this boot holds it: LOCKED with its pid', async () => {
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)']);
    try {
      await new Promise((r) => child.once('spawn', r));
      const pid = child.pid!;
      await writeFile(path, JSON.stringify({ pid, startTime: processStartTime(pid), bootId }));
      const err = await rejectsWithCode(acquireLock(path), 'LOCKED', 1);
      assert.deepEqual(err.details, { path, pid });
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('an owner that was killed but not yet reaped (a zombie) holds nothing', async () => {
    // sh starts a child, then execs a sleep that never waits for it: once the test kills
    // the child it stays a zombie, its /proc entry and start time there while it runs no
    // code. The child lives until it is killed: no window of time for a loaded machine
    // to miss.
    const parent = spawn('sh', ['-c', 'sleep 600 & echo $!; exec sleep 600']);
    try {
      const pid = Number(
        await new Promise<string>((r) => parent.stdout.once('data', (d: Buffer) => r(String(d)))),
      );
      const startTime = processStartTime(pid);
      assert.ok(startTime !== undefined, 'the child runs at first');
      await writeFile(path, JSON.stringify({ pid, startTime, bootId }));
      await rejectsWithCode(acquireLock(path), 'LOCKED', 1);
      process.kill(pid, 'SIGKILL');
      const deadline = Date.now() + 20_000;
      while (!/\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8')) && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 20));
      assert.match(readFileSync(`/proc/${pid}/stat`, 'utf8'), /\) Z /);
      const lock = await acquireLock(path);
      const owner = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
      assert.equal(owner.pid, process.pid);
      await lock.release();
    } finally {
      parent.kill('SIGKILL');
    }
  });

  it('a fresh empty lock (another run between create and write) is not stolen', async () => {
    await writeFile(path, '');
    await rejectsWithCode(acquireLock(path), 'LOCKED', 1);
  });

  it('release leaves a lock that is no longer ours alone', async () => {
    const lock = await acquireLock(path);
    const theirs = JSON.stringify({ pid: 1, startTime: processStartTime(1), bootId });
    await writeFile(path, theirs);
    await lock.release();
    assert.equal(await readFile(path, 'utf8'), theirs);
  });
});
