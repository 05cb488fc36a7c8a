/**
 * dist/kubesolo-update-linux-amd64 (`npm run package`) run natively, plus what only the
 * native run can check: the shared libraries it needs are exactly the ones
 * docs/runtime.md lists, and dist/SHA256SUMS matches the files.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { before, describe, it } from 'node:test';
import {
  HOST_ARCH,
  REPO,
  executable,
  executableSkipReason,
  skipOutsideCi,
} from '../helpers/executables.js';
import { loudSkip } from '../helpers/require-tool.js';
import { executableSuite } from './executable-suite.js';

// The dynamic dependencies of the official Node.js 24 linux-x64 binary (docs/runtime.md):
// glibc's libc, libm, libdl, libpthread and loader, and GCC's libstdc++ and libgcc_s.
const AMD64_LIBRARIES = [
  'ld-linux-x86-64.so.2',
  'libc.so.6',
  'libdl.so.2',
  'libgcc_s.so.1',
  'libm.so.6',
  'libpthread.so.0',
  'libstdc++.so.6',
];

executableSuite('amd64');

const reason = executableSkipReason('amd64');
// Another machine is no missing tool: skipped under root too.
const skip = HOST_ARCH === 'amd64' ? skipOutsideCi(reason) : loudSkip('not an amd64 machine');

describe('amd64 executables as files', { skip }, () => {
  before(() => assert.equal(reason, undefined, `prerequisite missing: ${reason}`));
  for (const tool of ['kubesolo-update', 'kubesolo-release'] as const) {
    it(`${tool} needs only the documented shared libraries`, () => {
      const out = execFileSync('ldd', [executable(tool, 'amd64')], { encoding: 'utf8' });
      const names = out
        .split('\n')
        .map((l) => l.trim().split(/\s+/)[0]!)
        .filter((n) => n && !n.startsWith('linux-vdso'))
        .map((n) => n.replace(/^.*\//, ''))
        .sort();
      assert.deepEqual(names, AMD64_LIBRARIES);
    });
  }

  it('dist/SHA256SUMS matches every executable (sha256sum -c)', () => {
    const out = execFileSync('sha256sum', ['-c', 'SHA256SUMS'], {
      cwd: `${REPO}dist`,
      encoding: 'utf8',
    });
    const ok = out.split('\n').filter((l) => l.endsWith(': OK'));
    assert.ok(ok.length >= 2, out);
    assert.match(out, /kubesolo-update-linux-amd64: OK/);
    assert.match(out, /kubesolo-release-linux-amd64: OK/);
  });
});
