import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { explainError } from '../../src/cli/explain.js';
import { useTempDir } from '../helpers/tree.js';
import { expectRefusal, runAgent } from '../helpers/cli.js';
import { hasCode } from '../helpers/rejects.js';

/** A system error as node:fs throws it. */
const systemError = (code: string, syscall: string, path: string, message = code) =>
  Object.assign(new Error(message), { code, syscall, path });

describe('explainError: file-system errors become reason codes with a hint', () => {
  it('a missing file (ENOENT outside mkdir) is PATH_NOT_FOUND, exit 1, naming the path', () => {
    const sys = systemError(
      'ENOENT',
      'open',
      '/x/y',
      "ENOENT: no such file or directory, open '/x/y'",
    );
    const e = explainError(sys, 'Run as root.');
    hasCode('PATH_NOT_FOUND', 1)(e);
    assert.match(e.message, /^cannot \w+ \/x\/y: no such file or directory\. Check the path/);
  });
});

describe('--root that is a file', () => {
  const tmp = useTempDir('ks-explain-', 'all');

  it('is ROOT_NOT_A_DIRECTORY (exit 2)', async () => {
    const file = tmp.path('a-file');
    await writeFile(file, 'not a directory\n');
    const r = await runAgent(['--root', file, 'status', '--json']);
    expectRefusal(r, 'ROOT_NOT_A_DIRECTORY', 2);
    assert.match(r.stderr, /is not a directory/);
  });
});

describe('explainError: permission and read-only errors', () => {
  it('EACCES on mkdir is PERMISSION_DENIED with the caller’s hint', () => {
    const sys = systemError('EACCES', 'mkdir', '/var/lib/kubesolo');
    const e = explainError(sys, 'Run as root on the device, or pass --root DIR.');
    hasCode('PERMISSION_DENIED', 1)(e);
    assert.equal(
      e.message,
      'cannot create /var/lib/kubesolo: permission denied. Run as root on the device, or pass --root DIR.',
    );
  });

  it('EROFS on open is READ_ONLY_FILESYSTEM with the remount hint', () => {
    const e = explainError(systemError('EROFS', 'open', '/x'), 'unused');
    hasCode('READ_ONLY_FILESYSTEM', 1)(e);
    assert.match(e.message, /^cannot \w+ \/x: read-only file system\. Pass --root DIR/);
  });
});
