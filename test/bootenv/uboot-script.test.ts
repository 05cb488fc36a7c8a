/**
 * boot/uboot/mkbootscr, the mkimage step of the U-Boot boot script: a legacy script
 * image (what U-Boot's `source` runs) whose first lines say where the A/B variables
 * live, then boot/uboot/boot.cmd unchanged; bad arguments refused. The script's
 * behaviour is proved in real U-Boot by ab-spec.test.ts.
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { toolSkipReason } from '../helpers/require-tool.js';

const MKBOOTSCR = fileURLToPath(new URL('../../boot/uboot/mkbootscr', import.meta.url));
const BOOT_CMD = fileURLToPath(new URL('../../boot/uboot/boot.cmd', import.meta.url));

/** The payload of a legacy script image: 64-byte header, a length table, the text. */
function scriptText(image: Buffer): string {
  assert.equal(image.readUInt32BE(0), 0x27051956, 'uImage magic');
  assert.equal(image[30], 6, 'image type: script');
  const len = image.readUInt32BE(64);
  assert.equal(image.readUInt32BE(68), 0, 'one part');
  return image.toString('latin1', 72, 72 + len);
}

describe('boot/uboot/mkbootscr', { skip: toolSkipReason(['mkimage'], 'u-boot-tools') }, () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'ks-mkbootscr-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));
  const mk = (...args: string[]) => spawnSync(MKBOOTSCR, args, { encoding: 'utf8' });

  it("U-Boot's own environment: kubesolo_envfile empty, then boot.cmd", () => {
    const r = mk(join(dir, 'a.scr'));
    assert.equal(r.status, 0, r.stderr);
    const text = scriptText(readFileSync(join(dir, 'a.scr')));
    const cmd = readFileSync(BOOT_CMD, 'latin1');
    assert.ok(text.endsWith(cmd));
    assert.match(text.slice(0, text.length - cmd.length), /^# .*\nkubesolo_envfile=\n$/);
  });

  it('an environment file: its name and size, as the script reads them', () => {
    const r = mk('--env-file', 'kubesolo.env', '--env-size', '4000', join(dir, 'b.scr'));
    assert.equal(r.status, 0, r.stderr);
    const text = scriptText(readFileSync(join(dir, 'b.scr')));
    assert.match(text, /^# .*\nkubesolo_envfile=\/kubesolo\.env\nkubesolo_envsize=0x4000\n/);
    assert.match(readFileSync(BOOT_CMD, 'latin1'), /\$\{kubesolo_envfile\}/);
  });

  it('refuses what the script could not use', () => {
    for (const args of [
      ['--env-file', 'a b', '--env-size', '4000'],
      ['--env-file', 'dir/x.env', '--env-size', '4000'],
      ['--env-file', 'x.env'],
      ['--env-size', '4000'],
      ['--env-file', 'x.env', '--env-size', 'big'],
      ['--bogus', 'x'],
      [],
    ]) {
      const r = mk(...args, ...(args.length > 0 ? [join(dir, 'bad.scr')] : []));
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    }
  });
});
