/**
 * `BootEnv` over the U-Boot environment on files: the A/B operations with U-Boot's other
 * variables kept, redundant copies taking turns, fw_printenv reading every result, the
 * refusals (no valid copy, no file, short file), the flash path through the real
 * `fw_setenv`, the flag meaning of an MTD device, and values read as U-Boot reads them.
 */
import { strict as assert } from 'node:assert';
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeEach, describe, it } from 'node:test';
import { createUbootBootEnv } from '../../src/bootenv/uboot-bootenv.js';
import { loadUbootEnv } from '../../src/bootenv/uboot-env-file.js';
import { readCopy, serializeUbootEnv } from '../../src/bootenv/uboot-env.js';
import { rejectsWithCode } from '../helpers/rejects.js';
import { useTempDir } from '../helpers/tree.js';
import { FACTORY_ON_A } from './boot-states.js';
import { fwEnvConfig, fwPrintenv, mkenvimage, ubootToolsSkipReason } from './uboot-tools.js';
import { silentLogger } from '../../src/log.js';

const SIZE = 0x4000;
/** A factory environment: U-Boot's own variables and the committed A/B state. */
const FACTORY: [string, string][] = [
  ['bootcmd', 'run distro_bootcmd'],
  ['bootdelay', '2'],
  ['active_slot', 'A'],
  ['boot_counter', '3'],
  ['boot_success', '1'],
];

describe('U-Boot BootEnv on files', { skip: ubootToolsSkipReason() }, () => {
  const tmp = useTempDir('ks-uboot-bootenv-');
  let root: string;
  let config: string;
  let cmdline: string;
  beforeEach(() => {
    root = tmp.dir;
    for (const dir of ['etc', 'boot', 'proc']) mkdirSync(join(root, dir));
    config = join(root, 'etc', 'fw_env.config');
    cmdline = join(root, 'proc', 'cmdline');
    writeFileSync(cmdline, 'kubesolo.slot=A panic=10\n');
  });

  /** fw_env.config with device paths as the device sees them; files under root. */
  function layout(redundant: boolean, vars: [string, string][] = FACTORY): void {
    const copies = redundant ? ['/boot/uboot.env', '/boot/uboot-redund.env'] : ['/boot/uboot.env'];
    writeFileSync(config, copies.map((c) => `${c} 0x0 0x${SIZE.toString(16)}\n`).join(''));
    copies.forEach((c, i) => {
      mkenvimage(join(root, c), i === 0 ? vars : [['stale', 'copy']], {
        size: SIZE,
        redundant,
        pad: 0,
      });
      if (redundant) {
        const img = readFileSync(join(root, c));
        img[4] = i === 0 ? 2 : 1; // copy 0 is the newer
        writeFileSync(join(root, c), img);
      }
    });
  }
  /** The same environment as fw_printenv reads it (device paths resolved). */
  function printenv(redundant: boolean): Map<string, string> {
    const copies = redundant ? ['/boot/uboot.env', '/boot/uboot-redund.env'] : ['/boot/uboot.env'];
    const cfg = join(root, 'host.cfg');
    fwEnvConfig(
      cfg,
      copies.map((c) => ({ device: join(root, c), offset: 0, size: SIZE })),
    );
    return fwPrintenv(cfg);
  }
  const env = (extra: Partial<Parameters<typeof createUbootBootEnv>[0]> = {}) =>
    createUbootBootEnv({
      log: silentLogger,
      configPath: config,
      root,
      cmdlinePath: cmdline,
      ...extra,
    });

  for (const redundant of [false, true]) {
    it(`${redundant ? 'redundant' : 'single'}: activate, markGood, forceRollback keep U-Boot's variables; fw_printenv agrees`, async () => {
      layout(redundant);
      assert.deepEqual(await env().read(), FACTORY_ON_A);
      await env().activate('B');
      assert.deepEqual(
        printenv(redundant),
        new Map([
          ['active_slot', 'B'],
          ['boot_counter', '3'],
          ['boot_success', '0'],
          ['bootcmd', 'run distro_bootcmd'],
          ['bootdelay', '2'],
        ]),
      );
      const st = await env().read();
      assert.deepEqual([st.activeSlot, st.bootSuccess, st.bootCounter], ['B', false, 3]);
      await env().markGood();
      assert.equal(printenv(redundant).get('boot_success'), '1');
      await env().forceRollback();
      const back = printenv(redundant);
      assert.deepEqual([back.get('active_slot'), back.get('boot_success')], ['A', '1']);
      assert.equal(back.get('bootcmd'), 'run distro_bootcmd');
    });
  }

  it('redundant: each write takes the copy not in use, with the next counter; the one in use is not touched', async () => {
    layout(true);
    const files = ['uboot.env', 'uboot-redund.env'].map((f) => join(root, 'boot', f));
    const flags = () => files.map((f) => readFileSync(f)[4]);
    assert.deepEqual(flags(), [2, 1]);
    const before0 = readFileSync(files[0]!);
    await env().activate('B');
    assert.deepEqual(flags(), [2, 3]);
    assert.ok(readFileSync(files[0]!).equals(before0), 'the copy in use was not written');
    await env().markGood();
    assert.deepEqual(flags(), [4, 3]);
    assert.equal((await loadUbootEnv({ configPath: config, root })).current, 0);
  });

  it('writes nothing when nothing changes', async () => {
    layout(false);
    const file = join(root, 'boot', 'uboot.env');
    const before = readFileSync(file);
    const mtime = statSync(file).mtimeMs;
    await env().markGood(); // already committed
    assert.ok(readFileSync(file).equals(before));
    assert.equal(statSync(file).mtimeMs, mtime);
  });

  it('no valid copy: read and every write refuse (UBOOTENV_CORRUPT crc), nothing is written', async () => {
    layout(false);
    const file = join(root, 'boot', 'uboot.env');
    const img = readFileSync(file);
    img[100] = img[100]! ^ 0xff;
    writeFileSync(file, img);
    const err = await rejectsWithCode(env().read(), 'UBOOTENV_CORRUPT', 1);
    assert.equal(err.details.reason, 'crc');
    assert.match(err.message, /default environment/);
    await rejectsWithCode(env().activate('B'), 'UBOOTENV_CORRUPT', 1);
    assert.ok(readFileSync(file).equals(img), 'the agent never writes an environment from nothing');
  });

  it('redundant with one torn copy: the other is used, and the next write replaces the torn one', async () => {
    layout(true);
    const torn = join(root, 'boot', 'uboot.env'); // the newer copy, torn
    const img = readFileSync(torn);
    img[4000] = img[4000]! ^ 1;
    writeFileSync(torn, img);
    assert.equal((await loadUbootEnv({ configPath: config, root })).current, 1);
    assert.deepEqual(printenv(true), new Map([['stale', 'copy']]));
    await env().activate('B');
    assert.equal(readCopy(readFileSync(torn), true).crcOk, true);
    assert.equal(printenv(true).get('active_slot'), 'B');
  });

  it('missing fw_env.config, missing or short environment file: clear errors', async () => {
    await rejectsWithCode(env().read(), 'UBOOTENV_READ_FAILED', 1);
    layout(false);
    writeFileSync(join(root, 'boot', 'uboot.env'), Buffer.alloc(SIZE - 1));
    const short = await rejectsWithCode(env().read(), 'UBOOTENV_CORRUPT', 1);
    assert.equal(short.details.reason, 'size');
    rmSync(join(root, 'boot', 'uboot.env'));
    await rejectsWithCode(env().read(), 'UBOOTENV_READ_FAILED', 1);
    await rejectsWithCode(env().activate('B'), 'UBOOTENV_READ_FAILED', 1);
    writeFileSync(config, '/boot/uboot.env 0x0\n');
    await rejectsWithCode(env().read(), 'UBOOTENV_CONFIG_INVALID', 2);
  });

  it('an environment at an offset inside a larger file (a disk image): only its bytes change', async () => {
    const disk = join(root, 'disk.img');
    const image = Buffer.alloc(0x20000, 0xaa);
    serializeUbootEnv(FACTORY, { size: SIZE, redundant: false }).copy(image, 0x8000);
    writeFileSync(disk, image);
    writeFileSync(config, '/disk.img 0x8000 0x4000\n');
    await env().activate('B');
    const after = readFileSync(disk);
    assert.ok(after.subarray(0, 0x8000).equals(image.subarray(0, 0x8000)));
    assert.ok(after.subarray(0xc000).equals(image.subarray(0xc000)));
    const cfg = join(root, 'host.cfg');
    fwEnvConfig(cfg, [{ device: disk, offset: 0x8000, size: SIZE }]);
    assert.equal(fwPrintenv(cfg).get('active_slot'), 'B');
  });

  it("values are read as U-Boot's import hands them to the boot script", async () => {
    layout(false, [
      ['active_slot', '\\B'],
      ['boot_success', '1'],
    ]);
    assert.equal((await env().read()).activeSlot, 'B', 'U-Boot reads \\B as B');
  });

  it('flash path: the real fw_setenv writes, the agent checks what it wrote', async () => {
    for (const redundant of [false, true]) {
      layout(redundant);
      await env({ writer: 'fw_setenv' }).activate('B');
      const st = await env().read();
      assert.deepEqual([st.activeSlot, st.bootSuccess], ['B', false]);
      assert.equal(printenv(redundant).get('bootcmd'), 'run distro_bootcmd');
    }
    const failing = join(root, 'fw_setenv_fails');
    writeFileSync(failing, '#!/bin/sh\necho "Cannot read environment" >&2\nexit 3\n', {
      mode: 0o755,
    });
    const err = await rejectsWithCode(
      env({ writer: 'fw_setenv', fwSetenv: failing }).markGood(),
      'UBOOTENV_WRITE_FAILED',
      1,
    );
    assert.match(err.message, /exit 3.*Cannot read environment/);
    const liar = join(root, 'fw_setenv_does_nothing');
    writeFileSync(liar, '#!/bin/sh\nexit 0\n', { mode: 0o755 });
    const lie = await rejectsWithCode(
      env({ writer: 'fw_setenv', fwSetenv: liar }).markGood(),
      'UBOOTENV_WRITE_FAILED',
      1,
    );
    assert.equal(lie.details.reason, 'verify');
    const none = await rejectsWithCode(
      env({ writer: 'fw_setenv', fwSetenv: join(root, 'no-such-helper') }).markGood(),
      'UBOOTENV_WRITE_FAILED',
      1,
    );
    assert.match(none.message, /libubootenv-tool/);
  });

  it('an MTD device is NOR (boolean flags) unless sysfs says nand, and is written through fw_setenv', async () => {
    mkdirSync(join(root, 'dev'));
    mkdirSync(join(root, 'sys', 'class', 'mtd', 'mtd3'), { recursive: true });
    const dev = join(root, 'dev', 'mtd3');
    // Copy 0 flagged 0xff (written, not yet marked), copy 1 flagged 0 (obsolete): NOR
    // reads copy 0; an incremental reading would take 0 as the wrap after 255.
    const img = Buffer.concat([
      serializeUbootEnv([['active_slot', 'A']], { size: SIZE, redundant: true, flags: 0xff }),
      serializeUbootEnv([['active_slot', 'B']], { size: SIZE, redundant: true, flags: 0 }),
    ]);
    writeFileSync(dev, img);
    writeFileSync(config, `/dev/mtd3 0x0 0x4000\n/dev/mtd3 0x4000 0x4000\n`);
    writeFileSync(join(root, 'sys', 'class', 'mtd', 'mtd3', 'type'), 'nor\n');
    assert.equal((await env().read()).activeSlot, 'A', 'NOR: 0xff over obsolete');
    writeFileSync(join(root, 'sys', 'class', 'mtd', 'mtd3', 'type'), 'nand\n');
    assert.equal((await env().read()).activeSlot, 'B', 'NAND: incremental, 0 after 255');
    const failing = join(root, 'fw_setenv_fails');
    writeFileSync(failing, '#!/bin/sh\nexit 9\n', { mode: 0o755 });
    await rejectsWithCode(env({ fwSetenv: failing }).activate('A'), 'UBOOTENV_WRITE_FAILED', 1);
  });
});
