// `npm run test:e2e:arm64`: the arm64 boot chain (docs/e2e.md "arm64") in two lanes, one
// QEMU per core, and the wall time of the whole run next to the per-boot timings in
// .tmp/e2e-arm64/timings.jsonl (`node bench/e2e-times.mjs --arm64` sums them up for
// bench/RESULTS.md).
//
// The lanes are set here because node's test runner sorts the files it is given: in name
// order the three mid-sized scenarios queued behind each other in one lane while the
// other idled. Boot time per file, measured (bench/RESULTS.md): hang ~400 s (three 45 s
// watchdog deadlines), unhealthy ~350 s, panic ~270 s, good ~230 s, boot chain ~40 s.
import { appendFileSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const LANES = [
  ['update-hang', 'update-good'],
  ['update-unhealthy', 'update-panic', 'boot-chain'],
].map((lane) => lane.map((f) => `test/e2e-arm64/${f}.test.ts`));

const repo = fileURLToPath(new URL('../../', import.meta.url));
// A scenario file in no lane would silently never run.
const present = readdirSync(`${repo}test/e2e-arm64`)
  .filter((f) => f.endsWith('.test.ts'))
  .map((f) => `test/e2e-arm64/${f}`)
  .sort();
if (JSON.stringify(present) !== JSON.stringify(LANES.flat().sort())) {
  console.error(
    `test/e2e-arm64/run.mjs: the lanes ${JSON.stringify(LANES)} are not ${JSON.stringify(present)}`,
  );
  process.exit(1);
}

const timings = `${repo}.tmp/e2e-arm64/timings.jsonl`;
mkdirSync(`${repo}.tmp/e2e-arm64`, { recursive: true });
rmSync(timings, { force: true });
const t0 = performance.now();

/** One lane: its files one after another; its output line by line, named. */
function lane(files, n) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['scripts/run-tests.mjs', ...files, '--include-e2e'], {
      cwd: repo,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, TEST_CONCURRENCY: '1' },
    });
    for (const stream of [child.stdout, child.stderr]) {
      createInterface({ input: stream }).on('line', (l) => console.log(`[lane ${n}] ${l}`));
    }
    child.on('close', (code) => resolve(code ?? 1));
  });
}
const codes = await Promise.all(LANES.map((files, i) => lane(files, i + 1)));
const exitCode = codes.every((c) => c === 0) ? 0 : 1;
const durationMs = Math.round(performance.now() - t0);
appendFileSync(
  timings,
  `${JSON.stringify({ at: new Date().toISOString(), what: 'suite', durationMs, exitCode })}\n`,
);
console.log(
  `arm64 e2e: lanes exited ${codes.join(', ')} after ${(durationMs / 1000).toFixed(1)} s`,
);
process.exit(exitCode);
