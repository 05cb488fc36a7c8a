// `npm run test:e2e:arm64`: the arm64 boot chain (docs/e2e.md "arm64"), two files at a
// time (one QEMU per core), and the wall time of the whole run next to the per-boot
// timings in .tmp/e2e-arm64/timings.jsonl (`node bench/e2e-times.mjs --arm64` sums them
// up for bench/RESULTS.md).
import { appendFileSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const repo = fileURLToPath(new URL('../../', import.meta.url));
const timings = `${repo}.tmp/e2e-arm64/timings.jsonl`;
mkdirSync(`${repo}.tmp/e2e-arm64`, { recursive: true });
rmSync(timings, { force: true });
const t0 = performance.now();
// Longest first, so the two lanes (one QEMU per core) end together: in name order the
// three mid-sized files queued behind each other. Boot time per file, measured
// (bench/RESULTS.md): hang ~400 s (three 45 s watchdog deadlines), unhealthy ~350 s,
// panic ~270 s, good ~230 s, boot chain ~40 s.
const FILES = ['update-hang', 'update-unhealthy', 'update-panic', 'update-good', 'boot-chain'].map(
  (f) => `test/e2e-arm64/${f}.test.ts`,
);
// A scenario file not in the list would silently never run.
const present = readdirSync(`${repo}test/e2e-arm64`)
  .filter((f) => f.endsWith('.test.ts'))
  .map((f) => `test/e2e-arm64/${f}`)
  .sort();
if (JSON.stringify(present) !== JSON.stringify([...FILES].sort())) {
  console.error(
    `test/e2e-arm64/run.mjs: FILES ${JSON.stringify(FILES)} != ${JSON.stringify(present)}`,
  );
  process.exit(1);
}
const r = spawnSync(process.execPath, ['scripts/run-tests.mjs', ...FILES, '--include-e2e'], {
  cwd: repo,
  stdio: 'inherit',
});
const durationMs = Math.round(performance.now() - t0);
appendFileSync(
  timings,
  `${JSON.stringify({ at: new Date().toISOString(), what: 'suite', durationMs, exitCode: r.status })}\n`,
);
process.exit(r.status ?? 1);
