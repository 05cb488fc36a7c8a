// Delta updates, side by side in one run (issue 26 item 6; docs/delta.md). Three
// consecutive releases of a KubeSolo-OS-like initramfs built from real Debian bookworm
// packages (bench/delta/build-releases.sh: ~1 GiB of cpio, kernel ABI bumps included),
// each with its own Debian kernel as vmlinuz, published by the real `kubesolo-release
// publish` (repacked images, and gzip --rsyncable images as built) and served by
// bench/delta-server.mjs, which counts every byte it sends (status lines, headers,
// bodies: latest.json, signatures, indexes, packs, pieces). The device runs the real
// agent bundle with dir slots, in a network namespace behind a veth pair:
//   throttled    tc tbf 50 Mbit/s each way on the veth pair, 50 ms round trip (the
//                server waits one RTT per request, two per new connection: this
//                kernel has no sch_netem)
//   unthrottled  the veth pair as it is
// Rows: full apply (no index: main's agent and this one, interleaved); delta apply v2→v3
// and v1→v3 of repacked images, with a cold index (the device cuts its running image
// first) and a warm one; the same for the rsyncable images; re-applying v3; casync
// (blob mode on the uncompressed cpio, 64 KiB and 16 KiB chunks, the old cpio as seed,
// the chunk store on the same server); the per-pair floors of xdelta3 -9 and zstd
// --long=31 --patch-from (sizes from bench/delta/prototype/reference.sh on the same
// releases, `--floors FILE`). Peak RSS by GNU time.
//   node bench/delta.bench.mjs [--releases DIR] [--work DIR] [--rounds 3] [--record]
//        [--no-throttled] [--no-casync] [--floors TSV]
// Needs root (netns, tc), casync, the pinned Node, `npm run build`, and main's build at
// /work/main/dist for the full-path comparison (--main-agent PATH).
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { loadavg, cpus } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawn } from 'node:child_process';
import { median, processTimer } from './measure.mjs';
import { recordSection } from './results-file.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..');
const AGENT = join(root, 'dist/kubesolo-update.mjs');
const RELEASE = join(root, 'dist/kubesolo-release.mjs');
const RESULTS = join(root, 'bench/RESULTS.md');
const SECTION = '## Delta updates (issue 26)';

const args = process.argv.slice(2);
const flag = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const opts = {
  releases: resolve(flag('releases', join(root, '.tmp/delta-cache/releases'))),
  work: resolve(flag('work', join(root, '.tmp/delta-bench'))),
  rounds: Number(flag('rounds', '3')),
  record: args.includes('--record'),
  throttled: !args.includes('--no-throttled'),
  casync: !args.includes('--no-casync'),
  floors: flag('floors', join(root, '.tmp/delta-cache/releases/reference.tsv')),
  mainAgent: flag('main-agent', '/work/main/dist/kubesolo-update.mjs'),
  rateMbit: 50,
  rttMs: 50,
};

const NS = 'ksdbench';
const HOST_IF = 'ksdb0';
const NS_IF = 'ksdb1';
const SERVER_IP = '10.79.0.1';
const DEVICE_IP = '10.79.0.2';
const PORT = 8470;
const CONTROL = 8471;
const MB = 1e6;

const sh = (cmd, a, o = {}) => execFileSync(cmd, a, { encoding: 'utf8', ...o }).trim();
const log = (...m) =>
  console.error(
    `[${new Date().toISOString().slice(11, 19)}] load ${loadavg()[0].toFixed(2)}:`,
    ...m,
  );
const sha256File = (p) => createHash('sha256').update(readFileSync(p)).digest('hex');
const loadStart = loadavg()
  .map((l) => l.toFixed(2))
  .join(' ');
const startedAt = new Date().toISOString().replace(/\.\d+Z$/, 'Z');

if (process.getuid?.() !== 0) {
  console.error('needs root (network namespace, tc)');
  process.exit(2);
}
for (const f of ['v1.gz', 'v2.gz', 'v3.gz', 'v3.cpio', 'v3.rsyncable.gz']) {
  if (!existsSync(join(opts.releases, f))) {
    console.error(`missing ${join(opts.releases, f)}: run bench/delta/build-releases.sh all`);
    process.exit(2);
  }
}
mkdirSync(opts.work, { recursive: true });
const W = (...p) => join(opts.work, ...p);
const R = (...p) => join(opts.releases, ...p);
const node = process.execPath;

// ---------------------------------------------------------------------------------
// 1. Inputs: kernels, repacked images, published sites, casync stores.

/** The Debian kernel of each release (the plan's kernel package), as its vmlinuz. */
function kernels() {
  const plan = readFileSync(join(root, 'bench/delta/plan.tsv'), 'utf8').split('\n');
  for (const rel of ['v1', 'v2', 'v3']) {
    const out = W('kernels', `${rel}.vmlinuz`);
    if (existsSync(out)) continue;
    const row = plan.find((l) => l.startsWith(`${rel}\tkernel\t`));
    const file = row.split('\t')[7];
    const tmp = W('kernels', `${rel}.x`);
    mkdirSync(tmp, { recursive: true });
    sh('dpkg-deb', ['-x', join(root, '.tmp/delta-cache/debs', file), tmp]);
    const boot = join(tmp, 'boot');
    copyFileSync(
      join(
        boot,
        readdirSync(boot).find((n) => n.startsWith('vmlinuz')),
      ),
      out,
    );
    rmSync(tmp, { recursive: true, force: true });
  }
}

const timings = {};
function timed(what, fn) {
  const t0 = process.hrtime.bigint();
  const r = fn();
  timings[what] = Number(process.hrtime.bigint() - t0) / 1e9;
  return r;
}

function repacked() {
  const rows = {};
  for (const rel of ['v1', 'v2', 'v3']) {
    const out = W(`${rel}.repacked.gz`);
    if (!existsSync(out)) {
      log(`repack ${rel}`);
      timed(`repack ${rel}`, () => sh(node, [RELEASE, 'repack', R(`${rel}.gz`), out, '--json']));
    }
    rows[rel] = { bytes: statSync(out).size, gzip9: statSync(R(`${rel}.gz`)).size };
  }
  return rows;
}

function keys() {
  if (!existsSync(W('keys/release.key'))) sh(node, [RELEASE, 'keygen', '--out', W('keys')]);
  return { key: W('keys/release.key'), pub: readFileSync(W('keys/release.pub'), 'utf8').trim() };
}

/** site: publish v1, v2, v3 in order with `image(rel)` as the initramfs. */
function site(name, image, extra = []) {
  const dir = W('served', name);
  if (existsSync(join(dir, 'v3.0.0', 'kubesolo-os.gz'))) return dir;
  rmSync(dir, { recursive: true, force: true });
  for (const rel of extra.includes('--only-v3') ? ['v3'] : ['v1', 'v2', 'v3']) {
    log(`publish ${name} ${rel}`);
    timed(`publish ${name} ${rel}`, () =>
      sh(node, [
        RELEASE,
        'publish',
        '--key',
        W('keys/release.key'),
        '--release-version',
        `${rel}.0.0`,
        '--kernel',
        W('kernels', `${rel}.vmlinuz`),
        '--initramfs',
        image(rel),
        '--out',
        dir,
        '--no-expiry',
        ...extra.filter((e) => e !== '--only-v3'),
      ]),
    );
  }
  return dir;
}

/** casync stores of the uncompressed cpio (reference.sh made them; made here if not). */
function casyncStores() {
  for (const avg of [65536, 16384]) {
    const dir = W('served', `casync-${avg}`);
    if (existsSync(join(dir, 'v3.caibx'))) continue;
    mkdirSync(dir, { recursive: true });
    log(`casync make ${avg}`);
    timed(`casync make ${avg}`, () =>
      sh('casync', [
        'make',
        `--store=${join(dir, 'v3.castr')}`,
        `--chunk-size=${avg}`,
        join(dir, 'v3.caibx'),
        R('v3.cpio'),
      ]),
    );
  }
}

// ---------------------------------------------------------------------------------
// 2. The link and the server.

function netUp() {
  netDown();
  sh('ip', ['netns', 'add', NS]);
  sh('ip', ['link', 'add', HOST_IF, 'type', 'veth', 'peer', 'name', NS_IF]);
  sh('ip', ['link', 'set', NS_IF, 'netns', NS]);
  sh('ip', ['addr', 'add', `${SERVER_IP}/24`, 'dev', HOST_IF]);
  sh('ip', ['link', 'set', HOST_IF, 'up']);
  sh('ip', ['netns', 'exec', NS, 'ip', 'addr', 'add', `${DEVICE_IP}/24`, 'dev', NS_IF]);
  sh('ip', ['netns', 'exec', NS, 'ip', 'link', 'set', NS_IF, 'up']);
  sh('ip', ['netns', 'exec', NS, 'ip', 'link', 'set', 'lo', 'up']);
}
function netDown() {
  spawnSync('ip', ['link', 'del', HOST_IF]);
  spawnSync('ip', ['netns', 'del', NS]);
}
const tbf = ['tbf', 'rate', `${opts.rateMbit}mbit`, 'burst', '64kb', 'latency', '1s'];
async function throttle(on) {
  if (on) {
    sh('tc', ['qdisc', 'replace', 'dev', HOST_IF, 'root', ...tbf]);
    sh('ip', ['netns', 'exec', NS, 'tc', 'qdisc', 'replace', 'dev', NS_IF, 'root', ...tbf]);
  } else {
    spawnSync('tc', ['qdisc', 'del', 'dev', HOST_IF, 'root']);
    spawnSync('ip', ['netns', 'exec', NS, 'tc', 'qdisc', 'del', 'dev', NS_IF, 'root']);
  }
  await control(`/rtt?ms=${on ? opts.rttMs : 0}`, 'POST');
}

let server;
async function serverUp() {
  server = spawn(
    node,
    [join(here, 'delta-server.mjs'), W('served'), SERVER_IP, String(PORT), String(CONTROL)],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  await new Promise((res) => server.stdout.once('data', res));
}
async function control(path, method = 'GET') {
  const r = await fetch(`http://127.0.0.1:${CONTROL}${path}`, { method });
  return r.status === 200 ? r.json() : undefined;
}

// ---------------------------------------------------------------------------------
// 3. Devices and runs.

const run = processTimer(opts.work, 0);
const inNs = (cmd, a) => ['ip', ['netns', 'exec', NS, cmd, ...a]];

/**
 * A simulated device following `siteName`, running `running` (its images as published
 * in `imagesFrom`, by default the same site).
 */
function device(name, siteName, running, version = `${running}.0.0`, imagesFrom = siteName) {
  const dev = W('devices', name);
  rmSync(dev, { recursive: true, force: true });
  for (const d of [
    'etc/kubesolo',
    'boot/grub',
    'proc/sys/kernel/random',
    'var/lib/kubesolo',
    'slots/a',
    'slots/b',
  ]) {
    mkdirSync(join(dev, d), { recursive: true });
  }
  writeFileSync(join(dev, 'proc/cmdline'), 'BOOT_IMAGE=/vmlinuz kubesolo.slot=A\n');
  writeFileSync(join(dev, 'proc/sys/kernel/random/boot_id'), 'bench-boot\n');
  writeFileSync(join(dev, 'etc/kubesolo/update.pub'), `${pub}\n`);
  const conf = {
    server: `http://${SERVER_IP}:${PORT}/${siteName}/`,
    pubkey: '/etc/kubesolo/update.pub',
    grubenv: '/boot/grub/grubenv',
    slot_backend: 'dir',
    slot_a_dir: '/slots/a',
    slot_b_dir: '/slots/b',
  };
  writeFileSync(
    join(dev, 'etc/kubesolo/update.conf'),
    Object.entries(conf)
      .map(([k, v]) => `${k}=${v}`)
      .join('\n') + '\n',
  );
  sh('grub-editenv', [join(dev, 'boot/grub/grubenv'), 'create']);
  sh('grub-editenv', [
    join(dev, 'boot/grub/grubenv'),
    'set',
    'active_slot=A',
    'boot_success=1',
    'boot_counter=3',
  ]);
  const from = W('served', imagesFrom, `${running}.0.0`);
  copyFileSync(join(from, 'vmlinuz'), join(dev, 'slots/a/vmlinuz'));
  copyFileSync(join(from, 'kubesolo-os.gz'), join(dev, 'slots/a/kubesolo-os.gz'));
  writeFileSync(join(dev, 'slots/a/version'), `${version}\n`);
  return dev;
}

/** Back to "about to apply": slot B empty, no state; the index cache kept (warm) or not. */
function reset(dev, warm) {
  rmSync(join(dev, 'slots/b'), { recursive: true, force: true });
  mkdirSync(join(dev, 'slots/b'));
  const update = join(dev, 'var/lib/kubesolo/update');
  if (!warm) {
    rmSync(update, { recursive: true, force: true });
    return;
  }
  rmSync(join(update, 'state.json'), { force: true });
  // Warm: the running image is known to the cache; the new index is fetched again.
  for (const f of readdirSync(join(update, 'delta'))) {
    if (f.startsWith('pinned-')) rmSync(join(update, 'delta', f));
  }
}

async function applyRow(label, dev, { agent = AGENT, warm = false, expect }) {
  reset(dev, warm);
  spawnSync('sync');
  await control('/reset', 'POST');
  const [cmd, a] = inNs(node, [agent, 'apply', '--root', dev, '--json']);
  const r = await run(cmd, a);
  const stats = await control('/stats');
  if (r.code !== 0) throw new Error(`${label}: apply exited ${r.code}: ${r.err.slice(-2000)}`);
  const staged = sha256File(join(dev, 'slots/b/kubesolo-os.gz'));
  if (staged !== expect) throw new Error(`${label}: slot B does not hold v3`);
  const state = JSON.parse(readFileSync(join(dev, 'var/lib/kubesolo/update/state.json'), 'utf8'));
  return {
    label,
    seconds: r.ms / 1000,
    cpu: r.cpu / 1000,
    rssMiB: r.rssKiB / 1024,
    bytes: stats.bytes,
    requests: stats.requests,
    ranges: stats.ranges,
    fetched: state.last_apply_bytes,
    reused: state.last_apply_reused_bytes,
    fallbacks: state.delta_fallback_counts,
  };
}

async function casyncRow(label, avg, seed) {
  const out = W('casync-out.cpio');
  rmSync(out, { force: true });
  spawnSync('sync');
  await control('/reset', 'POST');
  const base = `http://${SERVER_IP}:${PORT}/casync-${avg}`;
  const [cmd, a] = inNs('casync', [
    'extract',
    `--store=${base}/v3.castr`,
    `--seed=${seed}`,
    `${base}/v3.caibx`,
    out,
  ]);
  const r = await run(cmd, a);
  const stats = await control('/stats');
  if (r.code !== 0) throw new Error(`${label}: casync exited ${r.code}: ${r.err.slice(-1000)}`);
  if (sha256File(out) !== sha256File(R('v3.cpio')))
    throw new Error(`${label}: casync result differs`);
  rmSync(out, { force: true });
  return {
    label,
    seconds: r.ms / 1000,
    cpu: r.cpu / 1000,
    rssMiB: r.rssKiB / 1024,
    bytes: stats.bytes,
    requests: stats.requests,
  };
}

// ---------------------------------------------------------------------------------
// 4. The run.

let pub;
let repackRows = {};
const rows = { unthrottled: [], throttled: [] };
const fullPair = [];
try {
  log('inputs');
  kernels();
  repackRows = repacked();
  ({ pub } = keys());
  const repackedSite = site('repacked', (rel) => W(`${rel}.repacked.gz`));
  const rsyncSite = site('rsyncable', (rel) => R(`${rel}.rsyncable.gz`));
  void repackedSite;
  void rsyncSite;
  site('plain', (rel) => R(`${rel}.gz`), ['--no-delta-index', '--only-v3']);
  if (opts.casync) casyncStores();
  mkdirSync(W('seeds'), { recursive: true });

  netUp();
  await serverUp();
  const v3 = {
    repacked: sha256File(W('served/repacked/v3.0.0/kubesolo-os.gz')),
    rsyncable: sha256File(W('served/rsyncable/v3.0.0/kubesolo-os.gz')),
    plain: sha256File(W('served/plain/v3.0.0/kubesolo-os.gz')),
  };
  const devs = {
    // A full download does not read slot A: any v2 will do.
    plain: device('plain', 'plain', 'v2', 'v2.0.0', 'rsyncable'),
    r2: device('r2', 'repacked', 'v2'),
    r1: device('r1', 'repacked', 'v1'),
    r3: device('r3', 'repacked', 'v3', 'v2.9.0'),
    s2: device('s2', 'rsyncable', 'v2'),
    s1: device('s1', 'rsyncable', 'v1'),
  };
  for (const mode of opts.throttled ? ['unthrottled', 'throttled'] : ['unthrottled']) {
    await throttle(mode === 'throttled');
    log(mode);
    const out = rows[mode];
    // Full apply: main's agent and this one, interleaved (the full path must not be slower).
    const rounds = mode === 'throttled' ? 1 : opts.rounds;
    for (let i = 0; i < rounds; i++) {
      const pair = [];
      if (existsSync(opts.mainAgent))
        pair.push(
          await applyRow("full apply, main's agent", devs.plain, {
            agent: opts.mainAgent,
            expect: v3.plain,
          }),
        );
      pair.push(await applyRow('full apply (no index)', devs.plain, { expect: v3.plain }));
      fullPair.push({ mode, pair });
      out.push(...pair);
    }
    for (const [label, dev, expect] of [
      ['delta v2→v3, repacked', devs.r2, v3.repacked],
      ['delta v1→v3, repacked', devs.r1, v3.repacked],
      ['delta v2→v3, rsyncable as built', devs.s2, v3.rsyncable],
      ['delta v1→v3, rsyncable as built', devs.s1, v3.rsyncable],
      ['re-apply v3 (running v3)', devs.r3, v3.repacked],
    ]) {
      out.push(await applyRow(`${label}, cold index`, dev, { expect }));
      out.push(await applyRow(`${label}, warm index`, dev, { warm: true, expect }));
      log(out.at(-1));
    }
    if (opts.casync) {
      for (const [avg, seed, pair] of [
        [65536, 'v2', 'v2→v3'],
        [65536, 'v1', 'v2→v3'.replace('v2', 'v1')],
        [16384, 'v2', 'v2→v3'],
        [16384, 'v1', 'v1→v3'],
      ]) {
        // Throttled, casync fetches chunk by chunk: one row there is enough to see it.
        if (mode === 'throttled' && !(avg === 65536 && seed === 'v2')) continue;
        out.push(await casyncRow(`casync ${avg / 1024} KiB ${pair}`, avg, R(`${seed}.cpio`)));
        log(out.at(-1));
      }
    }
  }
} finally {
  server?.kill('SIGKILL');
  netDown();
}

// ---------------------------------------------------------------------------------
// 5. The report.

const floors = {};
if (existsSync(opts.floors)) {
  for (const line of readFileSync(opts.floors, 'utf8').trim().split('\n').slice(1)) {
    const [tool, pair, bytes] = line.split('\t');
    if (!/^\d+$/.test(bytes ?? '')) continue;
    floors[pair] ??= {};
    floors[pair][tool] = Number(bytes);
  }
}
const mb = (n) => (n / MB).toFixed(2);
const row = (r) =>
  `| ${r.label} | ${mb(r.bytes)} | ${r.requests} | ${r.fetched === undefined ? '' : mb(r.fetched)} | ${r.reused === undefined ? '' : mb(r.reused)} | ${r.seconds.toFixed(1)} | ${r.cpu.toFixed(1)} | ${r.rssMiB.toFixed(0)} |`;
const lines = [];
lines.push(
  `Measured ${startedAt} by \`node bench/delta.bench.mjs\`: Node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? 'CPU'}, 1-min load average ${loadStart.split(' ')[0]} → ${loadavg()[0].toFixed(2)} (the machine is shared with other jobs).`,
);
lines.push('');
lines.push(
  `Releases: bench/delta/build-releases.sh (v1, v2, v3, 45 days apart, from Debian bookworm, -updates and -security; plan bench/delta/plan.tsv), each with its own kernel's vmlinuz. Images: the initramfs repacked by \`kubesolo-release repack\` (sizes below), and GNU \`gzip -9 --rsyncable\` as built; published by \`kubesolo-release publish\` (v3 with patch packs from v2 and v1), served by bench/delta-server.mjs, which counts every byte it writes (headers included). The device: the agent bundle, dir slots on disk, in a network namespace behind a veth pair; passive slot empty. Cold index: the device's cache is empty (it cuts its running image first); warm: the running image is known, the new index is fetched again. Throttled: tc tbf ${opts.rateMbit} Mbit/s each way, ${opts.rttMs} ms round trip added by the server per request (this kernel has no sch_netem).`,
);
lines.push('');
lines.push('| repacked image | bytes | gzip -9 of the same files | larger by |');
lines.push('| --- | ---: | ---: | ---: |');
for (const [rel, r] of Object.entries(repackRows)) {
  lines.push(
    `| ${rel} | ${r.bytes} | ${r.gzip9} | ${((r.bytes / r.gzip9 - 1) * 100).toFixed(2)} % |`,
  );
}
lines.push('');
for (const mode of ['unthrottled', 'throttled']) {
  if (rows[mode].length === 0) continue;
  lines.push(
    `${mode === 'throttled' ? `Throttled (${opts.rateMbit} Mbit/s, ${opts.rttMs} ms RTT)` : 'Unthrottled (veth)'}:`,
  );
  lines.push('');
  lines.push(
    '| row | MB sent by the server | requests | MB fetched (agent) | MB reused (agent) | wall s | CPU s | peak RSS MiB |',
  );
  lines.push('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const r of rows[mode]) lines.push(row(r));
  lines.push('');
}
lines.push(
  'Per-pair floors on the uncompressed cpio (bytes of the patch alone; bench/delta/prototype/reference.sh on the same releases):',
);
lines.push('');
lines.push('| pair | tool | MB |');
lines.push('| --- | --- | ---: |');
for (const [pair, tools] of Object.entries(floors)) {
  for (const [tool, bytes] of Object.entries(tools))
    if (!tool.startsWith('casync')) lines.push(`| ${pair} | ${tool} | ${mb(bytes)} |`);
}
lines.push('');
// Targets (issue 26).
const find = (mode, label) => rows[mode].find((r) => r.label === label);
const verdict = (ok) => (ok ? 'met' : '**missed**');
const t = [];
const floor = (pair, which) => {
  const f = floors[pair] ?? {};
  const xd = Object.entries(f).find(([k]) => k.startsWith('xdelta3'))?.[1] ?? Infinity;
  const z3 = f['zstd -3 --long=31 --patch-from'] ?? Infinity;
  const z19 = f['zstd -19 --long=31 --patch-from'] ?? Infinity;
  return which === 'issue' ? Math.min(xd, z3) : Math.min(xd, z3, z19);
};
const casyncBest = (pair) =>
  Math.min(
    ...rows.unthrottled
      .filter((r) => r.label.startsWith('casync') && r.label.endsWith(pair))
      .map((r) => r.bytes),
  );
const d23 = find('unthrottled', 'delta v2→v3, repacked, warm index');
const d13 = find('unthrottled', 'delta v1→v3, repacked, warm index');
const re3 = find('unthrottled', 're-apply v3 (running v3), warm index');
if (d23) {
  const f = floor('v2->v3', 'issue');
  const f19 = floor('v2->v3', 'best');
  t.push(
    `v2 → v3 (repacked, warm): ${mb(d23.bytes)} MB sent ≤ 1.5 × ${mb(f)} MB (the better of xdelta3 -9 and zstd --long=31 --patch-from) = ${mb(1.5 * f)} MB: ${verdict(d23.bytes <= 1.5 * f)}` +
      ` (against zstd -19 --patch-from, ${mb(f19)} MB: 1.5 × = ${mb(1.5 * f19)} MB, ${verdict(d23.bytes <= 1.5 * f19)}); fewer than the best casync row (${mb(casyncBest('v2→v3'))} MB): ${verdict(d23.bytes < casyncBest('v2→v3'))}.`,
  );
}
if (d13) {
  t.push(
    `v1 → v3 (repacked, warm): ${mb(d13.bytes)} MB < the best casync row (${mb(casyncBest('v1→v3'))} MB): ${verdict(d13.bytes < casyncBest('v1→v3'))}.`,
  );
}
if (re3) {
  const index =
    statSync(W('served/repacked/v3.0.0/kubesolo-os.gz.index')).size +
    statSync(W('served/repacked/v3.0.0/vmlinuz.index')).size;
  const image = statSync(W('served/repacked/v3.0.0/kubesolo-os.gz')).size;
  t.push(
    `Re-applying v3: ${re3.bytes} bytes sent; the indexes are ${index} bytes, so ${re3.bytes - index} bytes beyond them (metadata, signatures, headers) ≤ 0.1 % of the image (${Math.round(image / 1000)}): ${verdict(re3.bytes - index <= image / 1000)}.`,
  );
}
for (const mode of ['throttled', 'unthrottled']) {
  const full = find(mode, 'full apply (no index)');
  const delta = find(mode, 'delta v2→v3, repacked, warm index');
  if (!full || !delta) continue;
  const limit = mode === 'throttled' ? 0.5 : 1.2;
  t.push(
    `${mode}: delta v2 → v3 apply ÷ full apply = ${(delta.seconds / full.seconds).toFixed(2)} ≤ ${limit}: ${verdict(delta.seconds / full.seconds <= limit)} (soft).`,
  );
}
const deltaRss = Math.max(
  ...[...rows.unthrottled, ...rows.throttled]
    .filter((r) => r.label.startsWith('delta') || r.label.startsWith('re-apply'))
    .map((r) => r.rssMiB),
);
t.push(
  `Peak RSS of delta apply: ${deltaRss.toFixed(0)} MiB ≤ 256 MiB: ${verdict(deltaRss <= 256)} (soft).`,
);
const ours = rows.unthrottled
  .filter((r) => r.label === 'full apply (no index)')
  .map((r) => r.seconds);
const mains = rows.unthrottled
  .filter((r) => r.label === "full apply, main's agent")
  .map((r) => r.seconds);
if (ours.length > 0 && mains.length > 0) {
  const ratio = median(ours) / median(mains);
  t.push(
    `Full-image path (unthrottled, ${ours.length} interleaved rounds, medians): this agent ${median(ours).toFixed(2)} s vs main's ${median(mains).toFixed(2)} s = ${ratio.toFixed(3)} ≤ 1.05: ${verdict(ratio <= 1.05)} (soft).`,
  );
}
lines.push('Targets:');
lines.push('');
for (const x of t) lines.push(`- ${x}`);
lines.push('');
lines.push(
  'Timings of the setup (s): ' +
    Object.entries(timings)
      .map(([k, v]) => `${k} ${v.toFixed(0)}`)
      .join(', '),
);
writeFileSync(
  W('rows.json'),
  JSON.stringify({ rows, floors, timings, fullPair, loadStart, loadEnd: loadavg() }, null, 2),
);
const report = lines.join('\n');
console.log(report);
if (opts.record) recordSection(RESULTS, SECTION, report);
