import { strict as assert } from 'node:assert';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { createGrubBootEnv } from '../../src/bootenv/grub-bootenv.js';
import { parseRunningSlot } from '../../src/bootenv/cmdline.js';
import { interpretBootVars } from '../../src/bootenv/boot-vars.js';
import { serializeGrubEnv } from '../../src/bootenv/grubenv.js';
import { createLogger, silentLogger } from '../../src/log.js';
import { DEFAULT_PATHS, underRoot } from '../../src/paths.js';
import { Writable } from 'node:stream';
import { abEnv, FACTORY_ON_A } from './boot-states.js';
import { grubEditenvOk, grubEditenvSkipReason } from './editenv.js';
import { hasReason } from '../helpers/rejects.js';

const skipNoEditenv = grubEditenvSkipReason();

/** A --root with /boot/grub and /proc, the way the CLI resolves paths. */
async function makeRoot(): Promise<{ root: string; grubenvPath: string; cmdlinePath: string }> {
  const root = await mkdtemp(join(tmpdir(), 'ks-bootenv-'));
  const grubenvPath = underRoot(root, DEFAULT_PATHS.grubenv);
  const cmdlinePath = underRoot(root, DEFAULT_PATHS.cmdline);
  await mkdir(join(root, 'boot', 'grub'), { recursive: true });
  await mkdir(join(root, 'proc'), { recursive: true });
  return { root, grubenvPath, cmdlinePath };
}

function listVars(path: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of grubEditenvOk(path, 'list').toString('utf8').split('\n')) {
    if (line === '') continue;
    const eq = line.indexOf('=');
    out[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return out;
}

describe('GRUB BootEnv', { skip: skipNoEditenv }, () => {
  let r: Awaited<ReturnType<typeof makeRoot>>;
  beforeEach(async () => {
    r = await makeRoot();
  });
  afterEach(async () => {
    await rm(r.root, { recursive: true, force: true });
  });

  it('a fresh image (no grubenv, no cmdline) reads as slot A, committed, counter 3', async () => {
    const env = createGrubBootEnv({ ...r, log: silentLogger });
    assert.deepEqual(await env.read(), { ...FACTORY_ON_A, runningSlot: undefined });
  });

  it('reads a --root prepared with grub-editenv, and the running slot from the cmdline', async () => {
    grubEditenvOk(r.grubenvPath, 'create');
    grubEditenvOk(r.grubenvPath, 'set', 'active_slot=B', 'boot_counter=2', 'boot_success=0');
    await writeFile(r.cmdlinePath, 'BOOT_IMAGE=/vmlinuz kubesolo.slot=B panic=10 console=ttyS0\n');
    assert.deepEqual(await createGrubBootEnv({ ...r, log: silentLogger }).read(), {
      activeSlot: 'B',
      passiveSlot: 'A',
      runningSlot: 'B',
      bootCounter: 2,
      bootSuccess: false,
    });
  });

  it('activate, markGood and forceRollback each write one block that grub-editenv lists as specified', async () => {
    grubEditenvOk(r.grubenvPath, 'create');
    grubEditenvOk(r.grubenvPath, 'set', 'saved_entry=keep-me');
    const env = createGrubBootEnv({ ...r, log: silentLogger });

    await env.activate('B');
    assert.deepEqual(listVars(r.grubenvPath), {
      active_slot: 'B',
      boot_counter: '3',
      boot_success: '0',
      saved_entry: 'keep-me',
    });
    // What GRUB's count-down leaves behind reads back correctly.
    grubEditenvOk(r.grubenvPath, 'set', 'boot_counter=1');
    assert.equal((await env.read()).bootCounter, 1);

    // markGood and forceRollback change the slot only; the rest stays as markGood left it.
    const rest = { boot_counter: '3', boot_success: '1', saved_entry: 'keep-me' };
    await env.markGood();
    assert.deepEqual(listVars(r.grubenvPath), { active_slot: 'B', ...rest });

    await env.forceRollback();
    assert.deepEqual(listVars(r.grubenvPath), { active_slot: 'A', ...rest });
    const st = await env.read();
    assert.equal(st.activeSlot, 'A');
    assert.equal(st.passiveSlot, 'B');
    assert.equal(st.bootSuccess, true);
  });

  it('the first write creates the file when /boot/grub exists; markGood on defaults writes slot A', async () => {
    await createGrubBootEnv({ ...r, log: silentLogger }).markGood();
    assert.deepEqual(listVars(r.grubenvPath), {
      active_slot: 'A',
      boot_counter: '3',
      boot_success: '1',
    });
  });

  it('refuses to write when /boot/grub is missing (ESP not mounted)', async () => {
    await rm(join(r.root, 'boot'), { recursive: true });
    await assert.rejects(
      createGrubBootEnv({ ...r, log: silentLogger }).activate('B'),
      hasReason('GRUBENV_WRITE_FAILED'),
    );
  });

  it('a corrupt grubenv is an error on read and on every write; the file is left as it was', async () => {
    const junk = Buffer.alloc(1024, 0x41);
    await writeFile(r.grubenvPath, junk);
    const env = createGrubBootEnv({ ...r, log: silentLogger });
    await assert.rejects(env.read(), hasReason('GRUBENV_CORRUPT'));
    await assert.rejects(env.activate('B'), hasReason('GRUBENV_CORRUPT'));
    await assert.rejects(env.markGood(), hasReason('GRUBENV_CORRUPT'));
    await assert.rejects(env.forceRollback(), hasReason('GRUBENV_CORRUPT'));
    assert.deepEqual(await readFile(r.grubenvPath), junk);
  });

  it('a crash injected inside activate leaves the old state whole', async () => {
    const before = serializeGrubEnv(abEnv('A', '3', '1'));
    await writeFile(r.grubenvPath, before);
    const env = createGrubBootEnv({
      log: silentLogger,
      ...r,
      onWriteStep: (s) => {
        if (s === 'fsync') throw new Error('power cut');
      },
    });
    await assert.rejects(env.activate('B'), hasReason('GRUBENV_WRITE_FAILED'));
    assert.deepEqual(await readFile(r.grubenvPath), before);
  });

  it('values GRUB reads differently are reported the way grub.cfg acts on them, with warnings', async () => {
    grubEditenvOk(r.grubenvPath, 'create');
    grubEditenvOk(r.grubenvPath, 'set', 'active_slot=C', 'boot_counter=9', 'boot_success=yes');
    const lines: string[] = [];
    const stream = new Writable({
      write(chunk: Buffer, _enc, cb) {
        lines.push(chunk.toString());
        cb();
      },
    });
    const log = createLogger({ level: 'warn', json: true, stream });
    const st = await createGrubBootEnv({ ...r, log }).read();
    assert.equal(st.activeSlot, 'A');
    assert.equal(st.bootCounter, 0);
    assert.equal(st.bootSuccess, false);
    assert.equal(lines.length, 3);
  });
});

describe('boot variable interpretation and the command line', () => {
  it('empty values are the defaults, as in grub.cfg', () => {
    const bv = interpretBootVars(abEnv('', '', ''));
    assert.deepEqual(bv, { activeSlot: 'A', bootCounter: 3, bootSuccess: true, problems: [] });
  });

  it('parses kubesolo.slot=, last one wins, anything else is unknown', () => {
    assert.equal(parseRunningSlot('kubesolo.slot=A'), 'A');
    assert.equal(parseRunningSlot('quiet kubesolo.slot=A kubesolo.slot=B\n'), 'B');
    assert.equal(parseRunningSlot('kubesolo.slot=C'), undefined);
    assert.equal(parseRunningSlot('xkubesolo.slot=A'), undefined);
    assert.equal(parseRunningSlot(''), undefined);
  });

  it('an unreadable cmdline path is CMDLINE_READ_FAILED', async () => {
    const root = await mkdtemp(join(tmpdir(), 'ks-cmdline-'));
    try {
      const env = createGrubBootEnv({
        log: silentLogger,
        grubenvPath: join(root, 'grubenv'),
        cmdlinePath: root,
      });
      await assert.rejects(env.read(), hasReason('CMDLINE_READ_FAILED'));
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
