// `metrics --listen` scrape cost (docs/fleet.md): the agent re-reads state.json, the GRUB
// environment and the running slot's version on every scrape. Measured against a
// baseline in the same run: a plain node:http server answering the same exposition text
// from memory, so the difference is the agent's own per-scrape work.
//
//   node bench/metrics-scrape.bench.mjs [--scrapes N] [--record]
//
// Scrapes alternate between the two servers in a shuffled order; latency is wall time
// from request to the end of the body over loopback; CPU is user + system of each
// server process (/proc/PID/stat) over all measured scrapes, divided by their number;
// RSS is VmRSS after the run. --record rewrites the "Metrics scrape" section of
// bench/RESULTS.md.
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { recordSection } from './results-file.mjs';

const BUNDLE = 'dist/kubesolo-update.mjs';
const RESULTS = 'bench/RESULTS.md';
const SECTION = '## Metrics scrape';
const args = process.argv.slice(2);
const scrapes = Number(args[args.indexOf('--scrapes') + 1]) || 300;
const record = args.includes('--record');

function makeDevice() {
  const root = mkdtempSync(join(tmpdir(), 'ks-bench-metrics-'));
  for (const d of ['slots/a', 'slots/b', 'boot/grub', 'etc/kubesolo', 'var/lib/kubesolo/update']) {
    mkdirSync(join(root, d), { recursive: true });
  }
  writeFileSync(join(root, 'slots/a/version'), 'v1.0.0\n');
  writeFileSync(join(root, 'slots/b/version'), 'v1.1.0\n');
  mkdirSync(join(root, 'proc'), { recursive: true });
  writeFileSync(join(root, 'proc/cmdline'), 'BOOT_IMAGE=/vmlinuz kubesolo.slot=B\n');
  const env = join(root, 'boot/grub/grubenv');
  execFileSync('grub-editenv', [env, 'create']);
  execFileSync('grub-editenv', [env, 'set', 'active_slot=B', 'boot_success=1', 'boot_counter=3']);
  writeFileSync(
    join(root, 'etc/kubesolo/update.conf'),
    'slot_backend=dir\nslot_a_dir=/slots/a\nslot_b_dir=/slots/b\ngrubenv=/boot/grub/grubenv\nchannel=stable\n',
  );
  const now = new Date().toISOString();
  writeFileSync(
    join(root, 'var/lib/kubesolo/update/state.json'),
    JSON.stringify({
      schema_version: 1,
      phase: 'success',
      from_version: 'v1.0.0',
      to_version: 'v1.1.0',
      target_slot: 'B',
      updated_at: now,
      phase_since: now,
      activated_at: now,
      last_check_at: now,
      available_version: 'v1.1.0',
      last_apply_bytes: 123456789,
      last_apply_seconds: 42.5,
      attempt_count: 1,
      health_check_failures: 0,
      failure_counts: { DOWNLOAD_FAILED: 2 },
      rollback_counts: { BOOT_FALLBACK: 1 },
    }),
  );
  return root;
}

/** Start a server process; resolve with its pid and base URL from a line it prints. */
function start(argv, pattern) {
  const child = spawn(process.execPath, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  return new Promise((resolve, reject) => {
    const onData = (d) => {
      out += d;
      const m = pattern.exec(out);
      if (m) resolve({ child, url: `http://${m[1]}/metrics` });
    };
    child.stdout.setEncoding('utf8').on('data', onData);
    child.stderr.setEncoding('utf8').on('data', onData);
    child.once('exit', (code) => reject(new Error(`${argv.join(' ')} exited ${code}: ${out}`)));
  });
}

function cpuMs(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  // utime and stime (fields 14 and 15 of stat), in clock ticks of 10 ms.
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

function rssMiB(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m[1]) / 1024;
}

async function scrape(url) {
  const t0 = process.hrtime.bigint();
  const res = await fetch(url);
  const body = await res.text();
  if (res.status !== 200 || !body.includes('kubesolo_update_phase')) {
    throw new Error(`${url}: ${res.status}`);
  }
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};

const root = makeDevice();
const agent = await start(
  [BUNDLE, 'metrics', '--listen', '127.0.0.1:0', '--root', root, '--log-level', 'info'],
  /"url":"http:\/\/([^/]+)\/metrics"/,
);
const text = await (await fetch(agent.url)).text();
const textFile = join(root, 'exposition.txt');
writeFileSync(textFile, text);
const baseline = await start(
  [
    '-e',
    `const t=require('fs').readFileSync(${JSON.stringify(textFile)});` +
      `const s=require('http').createServer((q,r)=>r.writeHead(200,{'content-type':'text/plain; version=0.0.4; charset=utf-8'}).end(t));` +
      `s.listen(0,'127.0.0.1',()=>console.log('listening 127.0.0.1:'+s.address().port))`,
  ],
  /listening (\S+)/,
);

const servers = { baseline, agent };
const times = { baseline: [], agent: [] };
const load0 = loadavg()[0];
for (let i = 0; i < 20; i++) for (const s of Object.values(servers)) await scrape(s.url);
const cpu0 = Object.fromEntries(Object.entries(servers).map(([k, s]) => [k, cpuMs(s.child.pid)]));
for (let i = 0; i < scrapes; i++) {
  const order = Math.random() < 0.5 ? ['baseline', 'agent'] : ['agent', 'baseline'];
  for (const k of order) times[k].push(await scrape(servers[k].url));
}
const load1 = loadavg()[0];
const rows = Object.entries(servers).map(([k, s]) => ({
  name:
    k === 'baseline'
      ? 'node:http serving the same text (baseline)'
      : '`kubesolo-update metrics --listen`',
  median: pct(times[k], 50),
  p90: pct(times[k], 90),
  p99: pct(times[k], 99),
  cpu: (cpuMs(s.child.pid) - cpu0[k]) / scrapes,
  rss: rssMiB(s.child.pid),
}));
for (const s of Object.values(servers)) s.child.kill('SIGTERM');
rmSync(root, { recursive: true, force: true });

const base = rows[0].median;
const series = text.split('\n').filter((l) => l && !l.startsWith('#')).length;
const report = [
  `Measured ${new Date().toISOString().replace(/\.\d+Z$/, 'Z')} by \`node bench/metrics-scrape.bench.mjs\` (\`npm run bench -- metrics-scrape\`):`,
  `Node ${process.version}, ${cpus().length} × ${cpus()[0]?.model.split(' ').slice(0, 2).join(' ')}, 1-min load average ${load0.toFixed(1)} → ${load1.toFixed(1)} (the machine is shared).`,
  `${scrapes} scrapes of each server, alternating in shuffled order after 20 warm-up rounds, over loopback; dir slots, a grubenv, a state.json with every fleet key; ${series} series, ${Buffer.byteLength(text)} bytes per scrape.`,
  '',
  '| server | median ms | p90 ms | p99 ms | CPU ms / scrape | RSS MiB | median ratio |',
  '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
  ...rows.map(
    (r) =>
      `| ${r.name} | ${r.median.toFixed(2)} | ${r.p90.toFixed(2)} | ${r.p99.toFixed(2)} | ${r.cpu.toFixed(2)} | ${r.rss.toFixed(1)} | ${(r.median / base).toFixed(2)}× |`,
  ),
  '',
  "At the 60 s scrape interval of deploy/monitoring, the CPU column is the agent's whole",
  'steady-state cost per minute.',
].join('\n');
console.log(report);
if (record) recordSection(RESULTS, SECTION, report);
