/** src/fs/control-file.ts: control files are read only if regular, bounded, never blocking. */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { readUpdatesBlock } from '../../src/cloudinit/yaml.js';
import { readControlText } from '../../src/fs/control-file.js';
import { useTempDir } from '../helpers/tree.js';
import { rejectsWithCode, throwsWithCode } from '../helpers/rejects.js';
import { assertCode } from '../helpers/code-assert.js';

describe('readControlText', () => {
  const tmp = useTempDir('ks-control-', 'all');

  it('reads a regular file within the limit', async () => {
    await writeFile(tmp.path('ok'), 'hello\n');
    assert.equal(await readControlText(tmp.path('ok'), { maxBytes: 6 }), 'hello\n');
  });

  it('refuses a file over the limit: CONTROL_FILE_TOO_LARGE', async () => {
    await writeFile(tmp.path('big'), 'x'.repeat(100));
    await rejectsWithCode(
      readControlText(tmp.path('big'), { maxBytes: 99 }),
      'CONTROL_FILE_TOO_LARGE',
      1,
    );
  });

  it('refuses a FIFO at once: CONTROL_FILE_NOT_REGULAR', async () => {
    execFileSync('mkfifo', [tmp.path('fifo')]);
    await rejectsWithCode(
      readControlText(tmp.path('fifo'), { maxBytes: 64 }),
      'CONTROL_FILE_NOT_REGULAR',
      1,
    );
  });

  it('refuses a symlink with noFollow (ELOOP)', async () => {
    execFileSync('ln', ['-s', tmp.path('ok'), tmp.path('link')]);
    await assert.rejects(readControlText(tmp.path('link'), { maxBytes: 64, noFollow: true }), {
      code: 'ELOOP',
    });
  });

  it('cloud-init: a repeated key is reported with yamlCode DUPLICATE_KEY and its line', () => {
    const e = throwsWithCode(
      () => readUpdatesBlock('updates:\n  channel: a\n  channel: b\n', 'f'),
      'CLOUDINIT_YAML_INVALID',
      2,
    );
    assertCode(e.details.yamlCode, 'DUPLICATE_KEY');
    assert.deepEqual(e.details, { file: 'f', line: 3, yamlCode: 'DUPLICATE_KEY' });
  });
});
