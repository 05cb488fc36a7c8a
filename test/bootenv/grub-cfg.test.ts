/**
 * boot/grub.cfg without booting: GRUB's own syntax checker, the facts the simulator
 * (src/bootenv/grub-sim.ts) relies on, and the A/B life cycle through the simulator
 * with the agent's BootEnv and grub-editenv on the same file.
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { createGrubBootEnv } from '../../src/bootenv/grub-bootenv.js';
import { parseGrubEnv, serializeGrubEnv } from '../../src/bootenv/grubenv.js';
import type { Slot } from '../../src/bootenv/types.js';
import {
  DEFAULT_CONSOLE,
  LOAD_ENV_VARS,
  simulateGrubBoot,
  simulateReboot,
} from '../../src/bootenv/grub-sim.js';
import { toolSkipReason } from '../helpers/require-tool.js';
import { grubEditenvOk, grubEditenvSkipReason } from './editenv.js';
import { silentLogger } from '../../src/log.js';

const GRUB_CFG = fileURLToPath(new URL('../../boot/grub.cfg', import.meta.url));
const scriptCheckSkip = toolSkipReason(['grub-script-check'], 'grub-common');

describe('boot/grub.cfg', () => {
  it('passes grub-script-check', { skip: scriptCheckSkip }, () => {
    const r = spawnSync('grub-script-check', [GRUB_CFG], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stdout + r.stderr);
  });

  it(
    'grub-script-check does catch a broken script (so the check above means something)',
    { skip: scriptCheckSkip },
    async () => {
      const dir = await mkdtemp(join(tmpdir(), 'ks-grubcfg-'));
      try {
        const broken = (await readFile(GRUB_CFG, 'utf8')).replace(/\nfi\n/, '\n');
        await writeFile(join(dir, 'grub.cfg'), broken);
        assert.notEqual(spawnSync('grub-script-check', [join(dir, 'grub.cfg')]).status, 0);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
  );

  it('matches what the simulator assumes', async () => {
    const cfg = await readFile(GRUB_CFG, 'utf8');
    const loadEnv = /^load_env -f "\$\{kubesolo_envfile\}" (.+)$/m.exec(cfg);
    assert.ok(loadEnv, 'load_env line');
    assert.deepEqual(loadEnv[1]!.split(' '), LOAD_ENV_VARS);
    assert.ok(cfg.includes(`set kubesolo_console="${DEFAULT_CONSOLE}"`));
    assert.match(cfg, /search --no-floppy --label --set=kubesolo_esp KSOLOEFI/);
    assert.match(cfg, /\(\$\{kubesolo_esp\}\)\/boot\/grub\/grubenv/);
    // The count-down chain 3→2→1→0 and the fallback's three saved variables.
    for (const [from, to] of [
      ['3', '2'],
      ['2', '1'],
      ['1', '0'],
    ]) {
      assert.ok(
        cfg.includes(`if [ "\${boot_counter}" = "${from}" ]; then\n    set kubesolo_next=${to}`),
      );
    }
    assert.match(cfg, /save_env -f "\$\{kubesolo_envfile\}" boot_counter;/);
    assert.match(
      cfg,
      /save_env -f "\$\{kubesolo_envfile\}" active_slot boot_success boot_counter\n/,
    );
    // Every entry passes the slot and searches its partition by label.
    const linuxLines = cfg.match(/^\s*linux .*$/gm) ?? [];
    assert.equal(linuxLines.length, 3);
    for (const l of linuxLines)
      assert.match(l, /kubesolo\.slot=\$\{kubesolo_(slot|other)\} panic=/);
    assert.equal(
      (cfg.match(/search --no-floppy --label --set=root "KSOLO\$\{kubesolo_(slot|other)\}"/g) ?? [])
        .length,
      3,
    );
    assert.match(cfg, /^set fallback=1$/m);
    assert.match(cfg, /^export kubesolo_slot$/m);
  });
});

describe('A/B life cycle through the GRUB simulator', { skip: grubEditenvSkipReason() }, () => {
  let root: string;
  let grubenvPath: string;
  let cmdlinePath: string;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'ks-grubsim-'));
    await mkdir(join(root, 'boot', 'grub'), { recursive: true });
    await mkdir(join(root, 'proc'));
    grubenvPath = join(root, 'boot', 'grub', 'grubenv');
    cmdlinePath = join(root, 'proc', 'cmdline');
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  const env = () => createGrubBootEnv({ log: silentLogger, grubenvPath, cmdlinePath });

  it('a fresh disk (no grubenv) boots A and writes nothing', () => {
    const b = simulateGrubBoot(grubenvPath);
    assert.equal(b.bootedSlot, 'A');
    assert.equal(b.action, 'boot');
    assert.equal(b.envLoaded, false);
    assert.equal(b.envSaved, undefined);
    assert.equal(b.cmdline, `kubesolo.slot=A panic=10 ${DEFAULT_CONSOLE}`);
  });

  it('a trial slot that never becomes good gets exactly 3 boots, then A is trusted for good', async () => {
    await env().markGood();
    await env().activate('B');
    const booted: Slot[] = [];
    const counters: number[] = [];
    for (let i = 0; i < 8; i++) {
      booted.push(simulateReboot(grubenvPath, cmdlinePath).bootedSlot);
      counters.push((await env().read()).bootCounter);
    }
    assert.deepEqual(booted, ['B', 'B', 'B', 'A', 'A', 'A', 'A', 'A']);
    assert.deepEqual(counters, [2, 1, 0, 3, 3, 3, 3, 3]);
    const st = await env().read();
    assert.deepEqual(
      { active: st.activeSlot, running: st.runningSlot, ok: st.bootSuccess },
      { active: 'A', running: 'A', ok: true },
    );
    // GRUB's in-place edits keep the block valid for us and for grub-editenv.
    parseGrubEnv(await readFile(grubenvPath));
    assert.match(grubEditenvOk(grubenvPath, 'list').toString(), /^active_slot=A$/m);
  });

  it('two broken slots never ping-pong: after one fallback the old slot stays', async () => {
    await env().activate('B');
    const seq: string[] = [];
    for (let i = 0; i < 10; i++) seq.push(simulateGrubBoot(grubenvPath).action);
    assert.deepEqual(seq, ['trial', 'trial', 'trial', 'fallback', ...Array(6).fill('boot')]);
  });

  it('markGood during the trial keeps the new slot', async () => {
    await env().activate('B');
    assert.equal(simulateReboot(grubenvPath, cmdlinePath).bootedSlot, 'B');
    assert.equal((await env().read()).runningSlot, 'B');
    await env().markGood();
    for (let i = 0; i < 5; i++) assert.equal(simulateGrubBoot(grubenvPath).bootedSlot, 'B');
  });

  it('forceRollback before the reboot cancels the trial', async () => {
    await env().activate('B');
    await env().forceRollback();
    assert.equal(simulateGrubBoot(grubenvPath).bootedSlot, 'A');
    assert.equal((await env().read()).bootSuccess, true);
  });

  it('a try GRUB cannot record is not taken: the other slot boots and nothing is saved', async () => {
    // A block GRUB can load but not save into (its padding is broken).
    const text = '# GRUB Environment Block\nactive_slot=B\nboot_counter=3\nboot_success=0\n#x';
    const block = Buffer.alloc(1024, '#');
    block.write(text);
    await writeFile(grubenvPath, block);
    const b = simulateGrubBoot(grubenvPath);
    assert.deepEqual([b.bootedSlot, b.action, b.envSaved], ['A', 'trial-unrecorded', false]);
    assert.deepEqual(await readFile(grubenvPath), block);
  });

  it('a missing partition makes GRUB boot menu entry 1, the other slot, without changing the env', async () => {
    await env().markGood();
    const before = await readFile(grubenvPath);
    const b = simulateGrubBoot(grubenvPath, { partitions: ['B'] });
    assert.deepEqual([b.bootedSlot, b.menuFallback], ['B', true]);
    assert.deepEqual(await readFile(grubenvPath), before);
    assert.throws(() => simulateGrubBoot(grubenvPath, { partitions: [] }), /nothing boots/);
  });

  it('kubesolo_console replaces the console arguments; other variables are not loaded', async () => {
    await writeFile(
      grubenvPath,
      serializeGrubEnv(
        new Map([
          ['kubesolo_console', 'console=ttyAMA0'],
          ['active_slot', 'B'],
        ]),
      ),
    );
    assert.equal(simulateGrubBoot(grubenvPath).cmdline, 'kubesolo.slot=B panic=10 console=ttyAMA0');
  });
});
