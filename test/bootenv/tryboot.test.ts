/**
 * Raspberry Pi tryboot on files (the firmware cannot be emulated here): the
 * autoboot.txt codec, the BootEnv's commit and fallback rules over a model of the
 * firmware (tryboot-sim.ts), in-place 512-byte writes, and the reboot that must carry
 * "0 tryboot".
 */
import { strict as assert } from 'node:assert';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeEach, describe, it } from 'node:test';
import { parseAutoboot, serializeAutoboot, AUTOBOOT_SIZE } from '../../src/bootenv/autoboot-txt.js';
import {
  createTrybootBootEnv,
  TRYBOOT_REBOOT_ARGUMENT,
} from '../../src/bootenv/tryboot-bootenv.js';
import { simulateTrybootReboot, type TrybootPaths } from '../../src/bootenv/tryboot-sim.js';
import { rebootCommand, requestReboot } from '../../src/agent/reboot.js';
import { silentLogger } from '../../src/log.js';
import { rejectsWithCode } from '../helpers/rejects.js';
import { useTempDir } from '../helpers/tree.js';
import { FACTORY_ON_A } from './boot-states.js';
import { expectCode } from './uboot-tools.js';

describe('autoboot.txt', () => {
  it('reads the Raspberry Pi documentation example', () => {
    const text = '[all]\ntryboot_a_b=1\nboot_partition=2\n[tryboot]\nboot_partition=3\n';
    assert.deepEqual(parseAutoboot(Buffer.from(text)), {
      allPartition: 2,
      trybootPartition: 3,
      armedBootId: undefined,
    });
  });

  it('writes exactly 512 bytes that read back the same, padded by one comment line', () => {
    const a = {
      allPartition: 2,
      trybootPartition: 3,
      armedBootId: '0f6e2c1a-5b7d-4e21-9a3c-1d2e3f4a5b6c',
    };
    const bytes = serializeAutoboot(a);
    assert.equal(bytes.length, AUTOBOOT_SIZE);
    assert.equal(bytes[AUTOBOOT_SIZE - 1], 0x0a);
    assert.match(
      bytes.toString('latin1'),
      /\nboot_partition=3\n# kubesolo: trial armed in boot 0f6e2c1a[^\n]*\n#+\n$/,
    );
    assert.deepEqual(parseAutoboot(bytes), a);
    assert.deepEqual(
      parseAutoboot(
        serializeAutoboot({ allPartition: 3, trybootPartition: undefined, armedBootId: undefined }),
      ),
      {
        allPartition: 3,
        trybootPartition: 3,
        armedBootId: undefined,
      },
    );
  });

  it('refuses what the firmware would read differently or the agent would drop', () => {
    const cases: [string, string][] = [
      ['[all]\ntryboot_a_b=1\nboot_partition=2\n[pi4]\nboot_partition=3\n', 'section'],
      ['[all]\ntryboot_a_b=1\nboot_partition=2\nfoo=1\n', 'key'],
      ['[all]\ntryboot_a_b=1\nboot_partition=x\n', 'value'],
      ['[all]\ntryboot_a_b=0\nboot_partition=2\n', 'value'],
      ['[all]\ntryboot_a_b=1\n', 'missing'],
      ['[all]\nboot_partition=2\n', 'missing'],
      ['boot_partition=2\n', 'line'],
      ['[all]\ntryboot_a_b=1\nboot_partition=2\n' + '#'.repeat(600) + '\n', 'size'],
    ];
    for (const [text, reason] of cases) {
      expectCode(() => parseAutoboot(Buffer.from(text)), 'AUTOBOOT_INVALID', { reason });
    }
  });
});

describe('tryboot BootEnv over the firmware model', () => {
  const tmp = useTempDir('ks-tryboot-');
  let paths: TrybootPaths;
  beforeEach(() => {
    const root = tmp.dir;
    for (const dir of ['boot', 'proc']) mkdirSync(join(root, dir));
    paths = {
      autobootPath: join(root, 'boot', 'autoboot.txt'),
      cmdlinePath: join(root, 'proc', 'cmdline'),
      bootIdPath: join(root, 'proc', 'boot_id'),
      trybootFlagPath: join(root, 'proc', 'dt', 'tryboot'),
    };
    writeFileSync(
      paths.autobootPath,
      serializeAutoboot({ allPartition: 2, trybootPartition: 2, armedBootId: undefined }),
    );
  });

  const env = () => createTrybootBootEnv({ ...paths, log: silentLogger });
  /** A reboot as the agent's reboot helper does it: with the flag when the BootEnv asks. */
  const reboot = async () =>
    simulateTrybootReboot(paths, (await env().rebootArgument!()) === TRYBOOT_REBOOT_ARGUMENT);

  it('a good trial: armed (one try), booted once with the flag, committed; ordinary boots stay on B', async () => {
    await reboot();
    assert.deepEqual(await env().read(), FACTORY_ON_A);
    assert.equal(await env().rebootArgument!(), undefined, 'nothing to try: an ordinary reboot');
    await env().activate('B');
    const armed = await env().read();
    assert.deepEqual([armed.activeSlot, armed.bootSuccess, armed.bootCounter], ['B', false, 1]);
    assert.equal(await env().rebootArgument!(), '0 tryboot');
    const trial = await reboot();
    assert.deepEqual([trial.action, trial.bootedSlot], ['trial', 'B']);
    const running = await env().read();
    assert.deepEqual(
      [running.runningSlot, running.activeSlot, running.bootCounter, running.bootSuccess],
      ['B', 'B', 0, false],
    );
    await env().markGood();
    assert.deepEqual(parseAutoboot(readFileSync(paths.autobootPath)), {
      allPartition: 3,
      trybootPartition: 3,
      armedBootId: undefined,
    });
    for (let i = 0; i < 3; i++) assert.equal((await reboot()).bootedSlot, 'B');
    assert.deepEqual((await env().read()).bootSuccess, true);
  });

  it('a bad trial: the next ordinary boot is the committed slot, the trial is spent, never retried', async () => {
    await reboot();
    await env().activate('B');
    assert.equal((await reboot()).bootedSlot, 'B');
    // B hangs or panics; the watchdog's or the kernel's reboot carries no flag.
    const back = await simulateTrybootReboot(paths, false);
    assert.deepEqual([back.action, back.bootedSlot], ['boot', 'A']);
    const st = await env().read();
    assert.deepEqual(
      [st.runningSlot, st.activeSlot, st.bootSuccess, st.bootCounter],
      ['A', 'A', true, 3],
    );
    assert.equal(await env().rebootArgument!(), undefined, 'the spent trial is not armed again');
    for (let i = 0; i < 3; i++) assert.equal((await reboot()).bootedSlot, 'A', 'no ping-pong');
  });

  it('a trial boot is known by the running slot; the device-tree flag only where the command line names none', async () => {
    await reboot();
    await env().activate('B');
    await reboot();
    rmSync(paths.trybootFlagPath); // a pod that does not mount /proc/device-tree
    const trial = await env().read();
    assert.deepEqual([trial.activeSlot, trial.bootCounter], ['B', 0]);
    writeFileSync(paths.cmdlinePath, 'console=serial0,115200\n'); // no kubesolo.slot=
    assert.equal(
      (await env().read()).activeSlot,
      'A',
      'no slot, no flag: the trial counts as spent',
    );
    const flag = Buffer.alloc(4);
    flag.writeUInt32BE(1);
    writeFileSync(paths.trybootFlagPath, flag);
    assert.equal((await env().read()).activeSlot, 'B', 'the firmware flag says tryboot');
  });

  it('a power cut between activate and the reboot: the device comes back on the committed slot', async () => {
    await reboot();
    await env().activate('B');
    assert.equal((await simulateTrybootReboot(paths, false)).bootedSlot, 'A');
    const st = await env().read();
    assert.deepEqual([st.activeSlot, st.bootSuccess], ['A', true]);
  });

  it('forceRollback commits the other slot for every boot', async () => {
    writeFileSync(
      paths.autobootPath,
      serializeAutoboot({ allPartition: 3, trybootPartition: 3, armedBootId: undefined }),
    );
    await reboot();
    await env().forceRollback();
    assert.equal((await reboot()).bootedSlot, 'A');
    assert.equal((await reboot()).bootedSlot, 'A');
  });

  it('rewrites autoboot.txt in place (same inode, 512 bytes) and refuses a file of another size', async () => {
    await reboot();
    const ino = statSync(paths.autobootPath).ino;
    await env().activate('B');
    assert.equal(statSync(paths.autobootPath).ino, ino);
    assert.equal(statSync(paths.autobootPath).size, AUTOBOOT_SIZE);
    const short = '[all]\ntryboot_a_b=1\nboot_partition=2\n';
    writeFileSync(paths.autobootPath, short);
    assert.equal((await env().read()).activeSlot, 'A', 'a hand-written file reads');
    const err = await rejectsWithCode(env().activate('B'), 'AUTOBOOT_INVALID', 1);
    assert.equal(err.details.reason, 'size');
    assert.equal(readFileSync(paths.autobootPath, 'utf8'), short, 'left as it was');
  });

  it('errors: no autoboot.txt, a partition that is no slot, no boot id to arm with', async () => {
    rmSync(paths.autobootPath);
    await rejectsWithCode(env().read(), 'AUTOBOOT_READ_FAILED', 1);
    writeFileSync(
      paths.autobootPath,
      serializeAutoboot({ allPartition: 4, trybootPartition: 4, armedBootId: undefined }),
    );
    const bad = await rejectsWithCode(env().read(), 'AUTOBOOT_INVALID', 1);
    assert.equal(bad.details.reason, 'value');
    writeFileSync(
      paths.autobootPath,
      serializeAutoboot({ allPartition: 2, trybootPartition: 2, armedBootId: undefined }),
    );
    rmSync(paths.bootIdPath, { force: true });
    await rejectsWithCode(env().activate('B'), 'AUTOBOOT_WRITE_FAILED', 1);
  });
});

describe('the tryboot reboot', () => {
  it('systemd passes the argument; a custom command gets it in KUBESOLO_UPDATE_REBOOT_ARG; busybox reboot is refused', async () => {
    assert.deepEqual(rebootCommand({}, '0 tryboot', true), ['systemctl', 'reboot', '0 tryboot']);
    assert.deepEqual(rebootCommand({}, undefined, true), ['systemctl', 'reboot']);
    assert.deepEqual(rebootCommand({}, undefined, false), ['reboot']);
    expectCode(() => rebootCommand({}, '0 tryboot', false), 'REBOOT_ARGUMENT_UNSUPPORTED');
    const dir = mkdtempSync(join(tmpdir(), 'ks-reboot-arg-'));
    try {
      const out = join(dir, 'arg');
      await requestReboot(
        silentLogger,
        {
          ...process.env,
          KUBESOLO_UPDATE_REBOOT_COMMAND: `printf '%s' "$KUBESOLO_UPDATE_REBOOT_ARG" > ${out}`,
        },
        '0 tryboot',
      );
      assert.equal(readFileSync(out, 'utf8'), '0 tryboot');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('an ordinary reboot (a rollback) never passes on an inherited KUBESOLO_UPDATE_REBOOT_ARG', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ks-reboot-arg-'));
    try {
      const out = join(dir, 'arg');
      await requestReboot(silentLogger, {
        ...process.env,
        KUBESOLO_UPDATE_REBOOT_ARG: TRYBOOT_REBOOT_ARGUMENT,
        KUBESOLO_UPDATE_REBOOT_COMMAND: `printf '%s' "\${KUBESOLO_UPDATE_REBOOT_ARG-unset}" > ${out}`,
      });
      assert.equal(readFileSync(out, 'utf8'), 'unset');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
