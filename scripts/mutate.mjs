// Replays test/mutations.tsv: the proof that a test can fail for the reason its title
// gives (issue 29). Each row breaks one thing on purpose (one exact text replaced in one
// file), runs the test that must notice, expects it to FAIL, and restores the file.
// A mutation whose test still passes is reported as SURVIVED and the script exits 1.
//
//   node scripts/mutate.mjs             every row
//   node scripts/mutate.mjs WORD        rows whose file, test or name contains WORD
//   node scripts/mutate.mjs --list      print the rows, run nothing
//   node scripts/mutate.mjs --check     check that every row still applies, run nothing
//                                       (npm test runs this: test/unit/mutations-table.test.ts)
//   node scripts/mutate.mjs --e2e       also the rows whose test boots QEMU (test/e2e*)
//
// test/mutations.tsv: tab-separated, one mutation a line, `#` starts a comment line.
// Columns: file to break, old text (must occur exactly once), new text, test file,
// test name pattern (a regex for --test-name-pattern, or empty: the whole file), why.
// In the texts, \t, \n and \\ stand for a tab, a newline and a backslash.
// A mutation under src/ rebuilds dist/ (the CLI tests run the bundles) before its test;
// dist/ is rebuilt from the restored sources at the end, and the files are restored
// even when the script is interrupted.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';

const TABLE =
  process.argv.find((a) => a.startsWith('--table='))?.slice('--table='.length) ??
  'test/mutations.tsv';

// The tests run under this node: the pinned one (npm scripts put it first on PATH), never
// an older system node, under which a test fails for reasons no mutation made.
if (Number(process.versions.node.split('.')[0]) < 24) {
  console.error(`node ${process.version}: run npm run test:mutations (the pinned Node 24)`);
  process.exit(2);
}
const args = process.argv.slice(2);
const listOnly = args.includes('--list');
const checkOnly = args.includes('--check');
// Rows whose test boots QEMU (test/e2e*) run only when asked: minutes each.
const e2e = args.includes('--e2e');
const filter = args.find((a) => !a.startsWith('--'));

const unescape = (s) =>
  s.replace(/\\(.)/g, (_, c) => ({ t: '\t', n: '\n', '\\': '\\' })[c] ?? `\\${c}`);

function readTable() {
  return readFileSync(TABLE, 'utf8')
    .split('\n')
    .map((line, i) => ({ line, n: i + 1 }))
    .filter(({ line }) => line.trim() !== '' && !line.startsWith('#'))
    .map(({ line, n }) => {
      const cols = line.split('\t');
      if (cols.length !== 6) throw new Error(`${TABLE}:${n}: ${cols.length} columns, not 6`);
      const [file, oldText, newText, test, name, why] = cols;
      return { n, file, oldText: unescape(oldText), newText: unescape(newText), test, name, why };
    });
}

const run = (cmd, argv) => spawnSync(cmd, argv, { encoding: 'utf8', stdio: 'pipe' });

function build() {
  const r = run(process.execPath, ['scripts/build.mjs']);
  if (r.status !== 0) throw new Error(`build failed:\n${r.stderr}`);
}

/** The first failure message of a test run, so a reader can tell it failed for the right reason. */
function why(output) {
  const lines = output.split('\n');
  const at = lines.findIndex((l) => /^\s*(\w*Error|# .*deadline|.*per-input deadline)/.test(l));
  return at < 0
    ? '(no message)'
    : lines
        .slice(at, at + 3)
        .join(' ')
        .replace(/\s+/g, ' ')
        .slice(0, 300);
}

/** Why row `r` cannot be replayed as written (its old text moved, its test is gone), if it cannot. */
function staleness(r) {
  let original;
  try {
    original = readFileSync(r.file, 'utf8');
  } catch {
    return `${r.file} cannot be read`;
  }
  const count = original.split(r.oldText).length - 1;
  if (count !== 1) return `the old text occurs ${count} times in ${r.file}`;
  if (!existsSync(r.test)) return `the test file ${r.test} does not exist`;
  return undefined;
}

const rows = readTable().filter(
  (r) =>
    (!filter || [r.file, r.test, r.name].some((s) => s.includes(filter))) &&
    (e2e || checkOnly || !r.test.startsWith('test/e2e')),
);
if (checkOnly) {
  const stale = rows.flatMap((r) => {
    const why = staleness(r);
    return why === undefined ? [] : [`STALE     ${TABLE}:${r.n}: ${why}`];
  });
  for (const line of stale) console.log(line);
  console.log(`${rows.length - stale.length} of ${rows.length} mutations apply`);
  process.exit(stale.length === 0 ? 0 : 1);
}
if (listOnly) {
  for (const r of rows)
    console.log(`${TABLE}:${r.n}  ${r.file}  ->  ${r.test} ${r.name}\n  ${r.why}`);
  process.exit(0);
}

let restore;
const restoreNow = () => {
  restore?.();
  restore = undefined;
};
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    restoreNow();
    process.exit(130);
  });
}

const survived = [];
let srcTouched = false;
try {
  for (const r of rows) {
    const stale = staleness(r);
    if (stale !== undefined) {
      survived.push(`${TABLE}:${r.n}: ${stale}`);
      console.log(`STALE     ${TABLE}:${r.n}: ${stale}`);
      continue;
    }
    const original = readFileSync(r.file, 'utf8');
    restore = () => writeFileSync(r.file, original);
    writeFileSync(
      r.file,
      original.replace(r.oldText, () => r.newText),
    );
    if (r.file.startsWith('src/')) {
      srcTouched = true;
      build();
    }
    const started = Date.now();
    const testArgs = ['scripts/run-tests.mjs', r.test];
    if (r.name) testArgs.push(`--test-name-pattern=${r.name}`);
    const t = spawnSync(process.execPath, testArgs, {
      encoding: 'utf8',
      stdio: 'pipe',
      env: { ...process.env, TEST_CONCURRENCY: '1' },
    });
    restoreNow();
    const seconds = ((Date.now() - started) / 1000).toFixed(0);
    // A failed test (a failing hook cancels its tests), not a run that found no test to
    // run (a stale name pattern).
    const failed = t.status !== 0 && /^ℹ (fail|cancelled) [1-9]/m.test(t.stdout);
    if (failed) {
      console.log(
        `KILLED    ${TABLE}:${r.n} ${r.test} (${seconds} s): ${why(t.stdout + t.stderr)}`,
      );
    } else {
      survived.push(`${TABLE}:${r.n}: ${r.file} -> ${r.test} ${r.name}: ${r.why}`);
      console.log(`SURVIVED  ${TABLE}:${r.n} ${r.test} (${seconds} s, exit ${t.status})`);
      if (process.env.MUTATE_VERBOSE) console.log(t.stdout.slice(-4000));
    }
  }
} finally {
  restoreNow();
  if (srcTouched) build();
}
console.log(`${rows.length - survived.length} of ${rows.length} mutations detected`);
if (survived.length > 0) {
  console.log(`not detected:\n  ${survived.join('\n  ')}`);
  process.exit(1);
}
