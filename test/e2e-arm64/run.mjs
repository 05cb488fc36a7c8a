// `npm run test:e2e:arm64`: the arm64 boot chain (docs/e2e.md "arm64"), two files at a
// time (one QEMU per core), and the wall time of the whole run next to the per-boot
// timings in .tmp/e2e-arm64/timings.jsonl (`node bench/e2e-times.mjs --arm64` sums them
// up for bench/RESULTS.md).
import { appendFileSync, mkdirSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const repo = fileURLToPath(new URL('../../', import.meta.url));
const timings = `${repo}.tmp/e2e-arm64/timings.jsonl`;
mkdirSync(`${repo}.tmp/e2e-arm64`, { recursive: true });
rmSync(timings, { force: true });
const t0 = performance.now();
const r = spawnSync(
  process.execPath,
  ['scripts/run-tests.mjs', 'test/e2e-arm64', '--include-e2e'],
  {
    cwd: repo,
    stdio: 'inherit',
  },
);
const durationMs = Math.round(performance.now() - t0);
appendFileSync(
  timings,
  `${JSON.stringify({ at: new Date().toISOString(), what: 'suite', durationMs, exitCode: r.status })}\n`,
);
process.exit(r.status ?? 1);
