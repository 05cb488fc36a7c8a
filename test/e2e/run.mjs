// `npm run test:e2e`: run the e2e files (two at a time: one QEMU per core) and record the
// wall time of the whole run next to the per-boot timings. `node bench/e2e-times.mjs`
// prints the summary bench/RESULTS.md quotes; it is not printed here so that the test
// runner's own summary stays the last thing on the console.
//
// `npm run test:e2e:block` (`--block`): the scenarios that write and boot a slot again,
// with the agent's `block` slot store (it finds the partitions by label and mounts them
// itself) instead of the test OS's own mounts (`dir`). Its timings are appended to the
// same file, its boots recorded as "<scenario> (block)".
import { appendFileSync, mkdirSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const BLOCK_SCENARIOS = ['test/e2e/update-good.test.ts', 'test/e2e/power-cut.test.ts'];

const block = process.argv.includes('--block');
const repo = fileURLToPath(new URL('../../', import.meta.url));
const timings = `${repo}.tmp/e2e/timings.jsonl`;
mkdirSync(`${repo}.tmp/e2e`, { recursive: true });
if (!block) rmSync(timings, { force: true });
const t0 = performance.now();
const r = spawnSync(
  process.execPath,
  ['scripts/run-tests.mjs', ...(block ? BLOCK_SCENARIOS : ['test/e2e']), '--include-e2e'],
  {
    cwd: repo,
    stdio: 'inherit',
    env: block ? { ...process.env, KSOLO_E2E_SLOT_BACKEND: 'block' } : process.env,
  },
);
const durationMs = Math.round(performance.now() - t0);
appendFileSync(
  timings,
  `${JSON.stringify({ at: new Date().toISOString(), what: block ? 'suite-block' : 'suite', durationMs, exitCode: r.status })}\n`,
);
process.exit(r.status ?? 1);
