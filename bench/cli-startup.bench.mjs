// CLI start-up benchmark (issue #2 "Done means", issue #5 Tests): median wall time of
// the agent bundle against `node -e 0` measured in the same run. Target: <= 2.5x.
// The single-file executable (issue #14, dist/kubesolo-update-linux-<arch> from `npm run
// package`, timed when present) against `node -e 0` of the same pinned runtime: <= 2x.
//
//   node bench/cli-startup.bench.mjs [--runs N] [--warmup N] [--record] [--check]
//                                    ['<agent args>' ...]
//
// Every run spawns a fresh `node`, so the baseline carries the same process start-up
// cost and only the agent's own work (reading + compiling the bundle, top-level code,
// the command) shows up in the ratio. Runs are interleaved in a shuffled order each
// round, so load from other processes on a shared machine hits baseline and agent
// alike. hyperfine, when installed, measures the same pair again as a cross-check.
//
// Extra arguments are more agent command lines to time (split on spaces), e.g.
// 'status --json --root /tmp/r'. Each must exit 0 (an error path is not start-up).
// --record rewrites the "CLI start-up" section of bench/RESULTS.md; --check exits 1
// when a ratio is over the target. --probe-deps also times two throwaway bundles of the
// runtime dependencies (undici + yaml): imported statically at top level, and imported
// with `await import()` only when a command needs them, to show what start-up costs
// a command tree that loads every dependency eagerly.
import { spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { recordSection } from './results-file.mjs';

const TARGET_RATIO = 2.5;
const EXECUTABLE_TARGET_RATIO = 2;
const BUNDLE = 'dist/kubesolo-update.mjs';
const EXECUTABLE = `dist/kubesolo-update-linux-${{ x64: 'amd64', arm64: 'arm64' }[process.arch]}`;
const RESULTS = 'bench/RESULTS.md';
const SECTION = '## CLI start-up';

function parseArgs(argv) {
  const opts = {
    runs: 40,
    warmup: 5,
    record: false,
    check: false,
    probeDeps: false,
    commands: [],
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--runs') opts.runs = Number(argv[++i]);
    else if (a === '--warmup') opts.warmup = Number(argv[++i]);
    else if (a === '--record') opts.record = true;
    else if (a === '--check') opts.check = true;
    else if (a === '--probe-deps') opts.probeDeps = true;
    else if (a === '--') continue;
    else opts.commands.push(a);
  }
  if (!Number.isInteger(opts.runs) || opts.runs < 5) throw new Error('--runs must be >= 5');
  return opts;
}

function timeOnce({ cmd = process.execPath, args }) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} exited ${r.status ?? r.signal}: ${r.stderr}`);
  }
  return ms;
}

function quantile(sorted, q) {
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

function stats(samples) {
  const s = [...samples].sort((a, b) => a - b);
  return { median: quantile(s, 0.5), p10: quantile(s, 0.1), p90: quantile(s, 0.9), min: s[0] };
}

function shuffle(list) {
  const a = [...list];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

function hyperfine(cases, runs) {
  const probe = spawnSync('hyperfine', ['--version'], { encoding: 'utf8' });
  if (probe.status !== 0) return undefined;
  const dir = mkdtempSync(join(tmpdir(), 'ks-bench-'));
  const out = join(dir, 'hf.json');
  try {
    const quote = (s) => (/^[\w./=:-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);
    const r = spawnSync(
      'hyperfine',
      [
        '-N',
        '--style',
        'none',
        '--warmup',
        '3',
        '--runs',
        String(runs),
        '--export-json',
        out,
        ...cases.map((c) => [c.cmd ?? process.execPath, ...c.args].map(quote).join(' ')),
      ],
      { stdio: ['ignore', 'ignore', 'inherit'] },
    );
    if (r.status !== 0) return undefined;
    const json = JSON.parse(readFileSync(out, 'utf8'));
    return { version: probe.stdout.trim(), results: json.results };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const fmt = (ms) => ms.toFixed(1);

const opts = parseArgs(process.argv.slice(2));
if (!existsSync(BUNDLE)) {
  console.error(`${BUNDLE} is missing: run \`npm run build\` (npm run bench does)`);
  process.exit(2);
}

// Same bundling options as scripts/build.mjs, for the --probe-deps bundles.
async function buildProbe(dir, name, source) {
  const { build } = await import('esbuild');
  const { BUNDLE_OPTIONS, ESM_REQUIRE_BANNER } = await import('../scripts/bundle-options.mjs');
  const entry = join(dir, `${name}.src.mjs`);
  const outfile = join(dir, `${name}.mjs`);
  writeFileSync(entry, source);
  await build({
    ...BUNDLE_OPTIONS,
    entryPoints: [entry],
    outfile,
    format: 'esm',
    nodePaths: [join(process.cwd(), 'node_modules')],
    banner: { js: ESM_REQUIRE_BANNER },
  });
  return outfile;
}

/**
 * A simulated device for `status --json` (issue #5): dir slots, a kernel command line
 * and a GRUB environment block in the 1024-byte format of docs/design.md §3.6.
 */
function makeStatusRoot() {
  const root = mkdtempSync(join(tmpdir(), 'ks-bench-root-'));
  for (const d of ['slots/a', 'slots/b', 'proc', 'etc/kubesolo', 'boot/grub']) {
    mkdirSync(join(root, d), { recursive: true });
  }
  writeFileSync(join(root, 'slots/a/version'), 'v1.0.0\n');
  writeFileSync(join(root, 'proc/cmdline'), 'kubesolo.slot=A panic=10\n');
  writeFileSync(
    join(root, 'etc/kubesolo/update.conf'),
    'slot_backend=dir\nslot_a_dir=/slots/a\nslot_b_dir=/slots/b\n',
  );
  const vars = '# GRUB Environment Block\nactive_slot=A\nboot_counter=3\nboot_success=1\n';
  writeFileSync(join(root, 'boot/grub/grubenv'), vars.padEnd(1024, '#'));
  return root;
}
const statusRoot = makeStatusRoot();

const cases = [
  { label: '`node -e 0` (baseline)', args: ['-e', '0'] },
  { label: '`kubesolo-update --help`', args: [BUNDLE, '--help'] },
  {
    label: '`kubesolo-update status --json` (dir slots)',
    args: [BUNDLE, 'status', '--json', '--root', statusRoot],
  },
  ...opts.commands.map((c) => ({
    label: `\`kubesolo-update ${c}\``,
    args: [BUNDLE, ...c.split(/\s+/).filter(Boolean)],
  })),
];
if (existsSync(EXECUTABLE)) {
  const executable = { cmd: EXECUTABLE, target: EXECUTABLE_TARGET_RATIO };
  cases.push(
    { ...executable, label: `\`${EXECUTABLE} --help\``, args: ['--help'] },
    {
      ...executable,
      label: `\`${EXECUTABLE} status --json\` (dir slots)`,
      args: ['status', '--json', '--root', statusRoot],
    },
  );
}
const probeDir = opts.probeDeps ? mkdtempSync(join(tmpdir(), 'ks-probe-')) : undefined;
if (probeDir) {
  // Both bundles contain all of undici and yaml; only when their top-level code runs differs.
  const use = "if (process.argv[2] === 'use') console.log(typeof request, typeof parse);";
  const eager = await buildProbe(
    probeDir,
    'eager',
    `import { request } from 'undici';\nimport { parse } from 'yaml';\n${use}\n`,
  );
  const lazy = await buildProbe(
    probeDir,
    'lazy',
    "if (process.argv[2] === 'use') {\n  const { request } = await import('undici');\n" +
      "  const { parse } = await import('yaml');\n  console.log(typeof request, typeof parse);\n}\n",
  );
  const kib = (f) => (statSync(f).size / 1024).toFixed(0);
  cases.push(
    {
      label: `probe: undici+yaml imported at top level (${kib(eager)} KiB)`,
      args: [eager],
      probe: true,
    },
    {
      label: `probe: same bundle, \`await import()\` not reached (${kib(lazy)} KiB)`,
      args: [lazy],
      probe: true,
    },
  );
}

const load0 = loadavg()[0];
for (let i = 0; i < opts.warmup; i++) for (const c of cases) timeOnce(c);
const samples = cases.map(() => []);
for (let i = 0; i < opts.runs; i++) {
  for (const idx of shuffle(cases.map((_, j) => j))) samples[idx].push(timeOnce(cases[idx]));
}
const load1 = loadavg()[0];
const measured = cases.map((c, i) => ({ ...c, ...stats(samples[i]) }));
const base = measured[0];
const hf = hyperfine(cases, opts.runs);
if (probeDir) rmSync(probeDir, { recursive: true, force: true });
rmSync(statusRoot, { recursive: true, force: true });

const when = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
const lines = [
  `Measured ${when} by \`node bench/cli-startup.bench.mjs\` (\`npm run bench -- cli-startup\`):`,
  `Node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'},`,
  `1-min load average ${load0.toFixed(1)} → ${load1.toFixed(1)} (the machine is shared),`,
  `bundle ${BUNDLE} ${(statSync(BUNDLE).size / 1024).toFixed(1)} KiB.`,
  `${opts.runs} interleaved runs per command in shuffled order after ${opts.warmup} warm-up rounds;`,
  `wall time of spawning \`node\` (or the executable) until exit. Target: median ≤ ${TARGET_RATIO}×`,
  `the baseline for the bundle, ≤ ${EXECUTABLE_TARGET_RATIO}× for the single-file executable (the same Node.js`,
  'with the bundle and its code cache inside).',
  '',
  '| command | median ms | p10 ms | p90 ms | min ms | median ratio | target |',
  '| --- | ---: | ---: | ---: | ---: | ---: | --- |',
];
let over = false;
for (const m of measured) {
  const ratio = m.median / base.median;
  const isBase = m === base;
  const target = m.target ?? TARGET_RATIO;
  if (!isBase && !m.probe && ratio > target) over = true;
  lines.push(
    `| ${m.label} | ${fmt(m.median)} | ${fmt(m.p10)} | ${fmt(m.p90)} | ${fmt(m.min)} | ` +
      `${isBase ? '1.00×' : ratio.toFixed(2) + '×'} | ${isBase || m.probe ? '' : ratio <= target ? `met (≤ ${target}×)` : `**missed** (> ${target}×)`} |`,
  );
}
if (hf) {
  lines.push(
    '',
    `Cross-check with ${hf.version} (\`-N\`, ${opts.runs} runs each, run one command after another):`,
    '',
    '| command | median ms | mean ± σ ms | user ms | system ms | median ratio |',
    '| --- | ---: | ---: | ---: | ---: | ---: |',
  );
  const hfBase = hf.results[0].median;
  hf.results.forEach((r, i) => {
    lines.push(
      `| ${cases[i].label} | ${fmt(r.median * 1000)} | ${fmt(r.mean * 1000)} ± ${fmt(r.stddev * 1000)} | ` +
        `${fmt(r.user * 1000)} | ${fmt(r.system * 1000)} | ${(r.median / hfBase).toFixed(2)}× |`,
    );
  });
}
if (probeDir) {
  lines.push(
    '',
    'The probe rows are two throwaway bundles holding all of undici and yaml (the runtime',
    'dependencies). In the first they are imported at top level, so their module code runs at',
    'every start-up; in the second they sit behind `await import()` in a branch not taken, so',
    'only the file is read and pre-parsed (esbuild keeps a dynamically imported module lazy',
    'inside a single-file bundle). Compare the two rows to see what an eager command tree',
    'would cost `--help`.',
  );
}
const report = lines.join('\n');
console.log(report);

if (opts.record) {
  recordSection(RESULTS, SECTION, report);
  console.log(`\nrecorded in ${RESULTS}`);
}
if (opts.check && over) {
  console.error(`a median ratio is over its target`);
  process.exit(1);
}
