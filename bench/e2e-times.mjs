// Summarize the boot times the e2e suite recorded (.tmp/e2e/timings.jsonl, written by
// test/e2e/helpers/host.ts during `npm run test:e2e`) as the Markdown tables of the
// "QEMU end-to-end boot times" section of bench/RESULTS.md. Measures nothing itself.
// --arm64: the arm64 suite's (.tmp/e2e-arm64/timings.jsonl, `npm run test:e2e:arm64`),
// whose firmware milestone is U-Boot running boot.scr's decision.
//   node bench/e2e-times.mjs [--arm64] [timings.jsonl]
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const arm64 = process.argv.includes('--arm64');
const fileArg = process.argv.slice(2).find((a) => !a.startsWith('--'));
const file =
  fileArg ??
  fileURLToPath(new URL(`../.tmp/${arm64 ? 'e2e-arm64' : 'e2e'}/timings.jsonl`, import.meta.url));
const firmware = arm64
  ? { milestone: 'script', label: 'U-Boot → boot.scr decision' }
  : { milestone: 'grub', label: 'OVMF → GRUB' };
const suiteScript = arm64 ? 'npm run test:e2e:arm64' : 'npm run test:e2e';
const entries = readFileSync(file, 'utf8')
  .split('\n')
  .filter(Boolean)
  .map((l) => JSON.parse(l));

const s = (ms) => (ms === undefined ? '–' : (ms / 1000).toFixed(1));
const median = (xs) => {
  if (xs.length === 0) return undefined;
  const v = [...xs].sort((a, b) => a - b);
  const m = Math.floor(v.length / 2);
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
};

const boots = entries.filter((e) => e.what === 'boot');
const kinds = {
  'healthy boot, no control work': (b) =>
    /factory|commit|stays|fallback|counter/.test(b.label) &&
    b.milestones.poweroff !== undefined &&
    !b.milestones.panic,
  'trial boot rebooted by the commit-deadline watchdog (→ power off: its reboot)': (b) =>
    b.milestones.watchdog !== undefined,
  'panicking boot (ended at the panic restart)': (b) => b.milestones.panic !== undefined,
  'boot with apply + activate': (b) => /apply/.test(b.label) && !b.cut,
  'boot cut by a power cut': (b) => b.cut,
};
console.log(
  `| kind of boot | boots | median total (s) | ${firmware.label} | → kernel | → /init | → health done | → power off |`,
);
console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
for (const [name, pick] of Object.entries(kinds)) {
  const bs = boots.filter(pick);
  if (bs.length === 0) continue;
  const end = (b) => b.milestones.poweroff ?? b.milestones.reboot;
  const ms = (k) =>
    median(
      bs.map((b) => (k === 'poweroff' ? end(b) : b.milestones[k])).filter((x) => x !== undefined),
    );
  console.log(
    `| ${name} | ${bs.length} | ${s(median(bs.map((b) => b.durationMs)))} | ${s(ms(firmware.milestone))} | ${s(ms('kernel'))} | ${s(ms('init'))} | ${s(ms('health'))} | ${s(ms('poweroff'))} |`,
  );
}
console.log('');
console.log('| scenario | boots | boot time (s) |');
console.log('| --- | --- | --- |');
const scenarios = [...new Set(boots.map((b) => b.scenario))];
for (const sc of scenarios) {
  const bs = boots.filter((b) => b.scenario === sc);
  console.log(`| ${sc} | ${bs.length} | ${s(bs.reduce((a, b) => a + b.durationMs, 0))} |`);
}
const build = entries.filter(
  (e) => e.what === 'build-test-image' || e.what === 'build-test-image-arm64',
);
const suite = entries.filter((e) => e.what === 'suite').at(-1);
console.log('');
if (build.length)
  console.log(`- image build: ${build.map((b) => `${s(b.durationMs)} s`).join(', ')}`);
console.log(`- boots: ${boots.length}, timed out: ${boots.filter((b) => b.timedOut).length}`);
console.log(`- sum of boot times: ${s(boots.reduce((a, b) => a + b.durationMs, 0))} s`);
if (suite)
  console.log(
    `- whole \`${suiteScript}\` run (wall clock, after \`npm run build\`): ${s(suite.durationMs)} s, exit ${suite.exitCode}`,
  );
const blockSuite = entries.filter((e) => e.what === 'suite-block').at(-1);
if (blockSuite)
  console.log(
    `- \`npm run test:e2e:block\` run (wall clock, after \`npm run build\`): ${s(blockSuite.durationMs)} s, exit ${blockSuite.exitCode}`,
  );
