// `npm run test:e2e`: run the e2e files (two at a time: one QEMU per core) and record the
// wall time of the whole run next to the per-boot timings. `node bench/e2e-times.mjs`
// prints the summary bench/RESULTS.md quotes; it is not printed here so that the test
// runner's own summary stays the last thing on the console.
import { appendFileSync, mkdirSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const repo = fileURLToPath(new URL('../../', import.meta.url));
const timings = `${repo}.tmp/e2e/timings.jsonl`;
mkdirSync(`${repo}.tmp/e2e`, { recursive: true });
rmSync(timings, { force: true });
const t0 = performance.now();
const r = spawnSync(process.execPath, ['scripts/run-tests.mjs', 'test/e2e', '--include-e2e'], {
  cwd: repo,
  stdio: 'inherit',
});
const durationMs = Math.round(performance.now() - t0);
appendFileSync(
  timings,
  `${JSON.stringify({ at: new Date().toISOString(), what: 'suite', durationMs, exitCode: r.status })}\n`,
);
process.exit(r.status ?? 1);
