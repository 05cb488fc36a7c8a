/**
 * The boot environment the agent builds for a command logs what it finds wrong, as the
 * unit under test does: a GRUB variable that grub.cfg reads otherwise than it says (here
 * boot_counter=7, which GRUB takes as tries used up) is a warning in the command's log.
 * It was silent once: the production context built the GRUB backend without a logger.
 */
import { strict as assert } from 'node:assert';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { grubEditenvOk, grubEditenvSkipReason } from '../bootenv/editenv.js';
import { logLines, runAgent } from '../helpers/cli.js';

describe('the production boot environment logs', { skip: grubEditenvSkipReason() }, () => {
  const dirs: string[] = [];
  after(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it('status on a grubenv with boot_counter=7 warns as GRUB reads it, naming the file', async () => {
    const root = await mkdtemp(join(tmpdir(), 'ks-bootenv-log-'));
    dirs.push(root);
    const init = await runAgent(['dev', 'init-root', root, '--installed-version', 'v1.0.0']);
    assert.equal(init.code, 0, init.stderr);
    const grubenv = join(root, 'boot/grub/grubenv');
    grubEditenvOk(grubenv, 'set', 'boot_counter=7');
    const r = await runAgent(['status', '--root', root]);
    assert.equal(r.code, 0, r.stderr);
    const warning = logLines(r.stderr).find((l) => l.level === 'warn');
    assert.deepEqual(warning && { msg: warning.msg, path: warning.path }, {
      msg: 'boot_counter="7" is not 0..3; GRUB treats the tries as used up',
      path: grubenv,
    });
  });
});
