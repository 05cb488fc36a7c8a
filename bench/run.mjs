// Benchmark runner (`npm run bench`, which builds first): runs every bench/*.bench.mjs
// in turn, or only the one named by the first argument (`cli-startup`,
// `cli-startup.bench.mjs` or a path); further arguments go to that benchmark.
//   npm run bench
//   npm run bench -- cli-startup --runs 60 --record 'status --json --root /tmp/r'
import { readdirSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const benchDir = dirname(fileURLToPath(import.meta.url));
const all = readdirSync(benchDir)
  .filter((f) => f.endsWith('.bench.mjs'))
  .sort();

const [name, ...rest] = process.argv.slice(2);
let selected;
if (name === undefined) {
  selected = all.map((f) => join(benchDir, f));
} else {
  const wanted = basename(name).replace(/\.bench\.mjs$/, '');
  const match = all.find((f) => f === `${wanted}.bench.mjs`);
  if (match === undefined) {
    console.error(`no benchmark ${JSON.stringify(name)}; have: ${all.join(', ') || '(none)'}`);
    process.exit(2);
  }
  selected = [join(benchDir, match)];
}

let failed = 0;
for (const file of selected) {
  console.log(`\n=== ${basename(file)} ===`);
  const r = spawnSync(process.execPath, [file, ...(name === undefined ? [] : rest)], {
    stdio: 'inherit',
    cwd: resolve(benchDir, '..'),
  });
  if (r.status !== 0) {
    failed++;
    console.error(`${basename(file)} exited with ${r.status ?? r.signal}`);
  }
}
process.exit(failed === 0 ? 0 : 1);
