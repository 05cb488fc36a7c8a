import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { explainError } from '../../src/cli/explain.js';
import { runAgent } from '../helpers/cli.js';
import { useTempDir } from '../helpers/tree.js';
import { assertCode } from '../helpers/code-assert.js';

describe('explainError: file-system errors become reason codes with a hint', () => {
  it('a missing file (ENOENT outside mkdir) is PATH_NOT_FOUND, exit 1, naming the path', () => {
    const sys = Object.assign(new Error("ENOENT: no such file or directory, open '/x/y'"), {
      code: 'ENOENT',
      syscall: 'open',
      path: '/x/y',
    });
    const e = explainError(sys, 'Run as root.');
    assertCode(e.code, 'PATH_NOT_FOUND');
    assert.equal(e.exitCode, 1);
    assert.match(e.message, /^cannot \w+ \/x\/y: no such file or directory\. Check the path/);
  });
});

describe('--root that is a file', () => {
  const tmp = useTempDir('ks-explain-', 'all');

  it('is ROOT_NOT_A_DIRECTORY (exit 2)', async () => {
    const file = tmp.path('a-file');
    await writeFile(file, 'not a directory\n');
    const r = await runAgent(['--root', file, 'status', '--json']);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /ROOT_NOT_A_DIRECTORY/);
    assert.match(r.stderr, /is not a directory/);
  });
});

describe('explainError: permission and read-only errors', () => {
  it('EACCES on mkdir is PERMISSION_DENIED with the caller’s hint', () => {
    const sys = Object.assign(new Error('EACCES'), {
      code: 'EACCES',
      syscall: 'mkdir',
      path: '/var/lib/kubesolo',
    });
    const e = explainError(sys, 'Run as root on the device, or pass --root DIR.');
    assertCode(e.code, 'PERMISSION_DENIED');
    assert.equal(
      e.message,
      'cannot create /var/lib/kubesolo: permission denied. Run as root on the device, or pass --root DIR.',
    );
  });

  it('EROFS on open is READ_ONLY_FILESYSTEM with the remount hint', () => {
    const sys = Object.assign(new Error('EROFS'), { code: 'EROFS', syscall: 'open', path: '/x' });
    const e = explainError(sys, 'unused');
    assertCode(e.code, 'READ_ONLY_FILESYSTEM');
    assert.match(e.message, /^cannot \w+ \/x: read-only file system\. Pass --root DIR/);
  });
});
