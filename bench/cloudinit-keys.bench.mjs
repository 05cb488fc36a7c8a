// `cloud-init apply` on files with many keys (issue 13: 40,000 keys took 27 s, 100,000
// over a minute, because the yaml library's duplicate-key check compares every key with
// every earlier one). Whole process: the built agent (`dist/kubesolo-update.mjs`) on an
// `updates:` block of N unknown keys; baseline in the same run: a node process that only
// parses the same file with the yaml library's own duplicate check (what the agent did
// before). Prints a Markdown table for bench/RESULTS.md.
//   npm run bench -- cloudinit-keys
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, loadavg } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
const agent = join(repo, 'dist', 'kubesolo-update.mjs');
const work = mkdtempSync(join(tmpdir(), 'ks-bench-ci-'));
const sizes = [10_000, 40_000, 100_000];

function timed(args) {
  const t = process.hrtime.bigint();
  const r = spawnSync(process.execPath, args, {
    cwd: repo,
    encoding: 'utf8',
    timeout: 600_000,
    stdio: ['ignore', 'ignore', 'pipe'],
    maxBuffer: 256 * 1024 * 1024,
  });
  const ms = Number(process.hrtime.bigint() - t) / 1e6;
  if (r.status !== 0)
    throw new Error(`${args.join(' ')} exited ${r.status}: ${r.stderr.slice(-400)}`);
  return ms;
}

// Evaluated with the repository as the working directory, so `yaml` resolves.
const probe =
  "import { readFileSync } from 'node:fs'; import { parseDocument } from 'yaml'; " +
  "parseDocument(readFileSync(process.argv[1], 'utf8'), { version: '1.1' });";
const load = loadavg()[0].toFixed(1);
const rows = [];
try {
  for (const n of sizes) {
    const file = join(work, `keys-${n}.yaml`);
    writeFileSync(
      file,
      '#cloud-config\nupdates:\n' +
        Array.from({ length: n }, (_, i) => `  unknown_key_${i}: value ${i}`).join('\n') +
        '\n  channel: stable\n',
    );
    const root = join(work, `root-${n}`);
    const ours = timed([
      agent,
      'cloud-init',
      'apply',
      file,
      '--root',
      root,
      '--log-level',
      'error',
    ]);
    // The baseline stops at 40,000 keys: beyond that it takes minutes.
    const before = n <= 40_000 ? timed(['--input-type=module', '-e', probe, file]) : undefined;
    rows.push({ n, ours, before });
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
console.log(
  `Measured ${new Date().toISOString()} by \`node bench/cloudinit-keys.bench.mjs\`, Node ${process.version}, 1-min load ${load}.`,
);
console.log('');
console.log(
  '| keys | `cloud-init apply` (ms) | baseline: yaml parse with its own duplicate check (ms) |',
);
console.log('| ---: | ---: | ---: |');
for (const r of rows) {
  console.log(
    `| ${r.n} | ${r.ours.toFixed(0)} | ${r.before === undefined ? '(not run: minutes)' : r.before.toFixed(0)} |`,
  );
}
