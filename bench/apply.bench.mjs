// Whole-command benchmark (issue #16): what an operator waits for. A release (kernel +
// initramfs, signed latest.json, published by `kubesolo-release publish`) is served
// over loopback by bench/download-server.mjs in its own process. In shuffled,
// interleaved rounds it times, for a 64 MiB and a 1 GiB initramfs (+ the kernel):
//   apply        `kubesolo-update apply --root DEV` on a simulated device, dir slots
//                on tmpfs and on disk (the whole process: start-up, metadata,
//                download into the passive slot, install, read-back, state)
//   curl -o      `curl -s -o` of both files into the same medium (no hash)
//   pipeline     `curl -s URL | tee FILE | openssl dgst -sha256` for both files
//   block        the same apply with block slots (ext4 on loop devices)
//   mender       Mender 3.4 standalone `mender install URL` of a signed artifact
//                whose rootfs-image payload is an ext4 image holding the same two
//                files, streamed into a loop-device partition (blkdiscard'ed first)
// plus peak RSS of apply (64 MiB vs 1 GiB) and a resume run: apply is killed with
// SIGKILL when half of the initramfs is in the slot, rerun, and the bytes the server
// sent over both runs are counted.
//   node bench/apply.bench.mjs [--size-mib 1024] [--small-mib 64] [--kernel-mib 8]
//                              [--rounds 3] [--no-block] [--no-mender] [--record]
// --timeline instead runs apply once per dir-slot medium on the large release with
// --log-level debug and reports where its wall time goes, phase by phase, next to what
// the hardware takes for the same bytes in the same run: `curl -o`, `openssl dgst
// -sha256` of the installed initramfs (this CPU's SHA-256), `dd iflag=direct` of it
// (the medium's read speed), and the CPU the server process used while serving apply
// (section "Apply phases"). --record rewrites the "Apply (whole command)" (or "Apply phases")
// section of bench/RESULTS.md. Needs root for the block and Mender rows (loop
// devices), and the Debian packages mender-client and mender-artifact for the Mender
// row; each is left out otherwise.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  MiB,
  killTree,
  killWhenFileReaches,
  makeFile,
  median,
  parseFlags,
  processTimer,
  waitGone,
} from './measure.mjs';
import { recordSection } from './results-file.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..');
const RESULTS = join(root, 'bench/RESULTS.md');
const SECTION = '## Apply (whole command)';
const TIMELINE_SECTION = '## Apply phases';
const AGENT = join(root, 'dist/kubesolo-update.mjs');
const RELEASE = join(root, 'dist/kubesolo-release.mjs');

const opts = {
  sizeMiB: 1024,
  smallMiB: 64,
  kernelMiB: 8,
  rounds: 3,
  block: process.getuid?.() === 0,
  mender: process.getuid?.() === 0,
  record: false,
  timeline: false,
  nice: -10,
};
parseFlags(process.argv.slice(2), opts);
if (opts.timeline) opts.block = opts.mender = false;
if (!existsSync('/usr/bin/mender') || !existsSync('/usr/bin/mender-artifact')) opts.mender = false;

const sh = (cmd, args) => execFileSync(cmd, args, { encoding: 'utf8' }).trim();
const disk = mkdtempSync(join(tmpdir(), 'ks-bench-apply-'));
const shm = mkdtempSync('/dev/shm/ks-bench-apply-');
const loops = [];
const undo = [];
let serverPid;
function cleanupAll() {
  if (serverPid !== undefined) killTree(serverPid);
  for (const d of loops) spawnSync('losetup', ['-d', d]);
  for (const f of undo.reverse()) f();
  rmSync(disk, { recursive: true, force: true });
  rmSync(shm, { recursive: true, force: true });
}
process.on('SIGINT', () => {
  cleanupAll();
  process.exit(130);
});
const run = processTimer(disk, opts.nice);

/** A published release: DIR/latest.json (signed) and DIR/v2.0.0/{vmlinuz,kubesolo-os.gz}. */
function publish(name, initramfsMiB, key) {
  const src = join(shm, `${name}-src`);
  mkdirSync(src);
  makeFile(join(src, 'vmlinuz'), opts.kernelMiB * MiB);
  makeFile(join(src, 'kubesolo-os.gz'), initramfsMiB * MiB);
  const out = join(shm, name);
  sh(process.execPath, [
    RELEASE,
    'publish',
    '--key',
    key,
    '--version',
    'v2.0.0',
    '--kernel',
    join(src, 'vmlinuz'),
    '--initramfs',
    join(src, 'kubesolo-os.gz'),
    '--out',
    out,
    '--arch',
    'amd64',
  ]);
  return { name, dir: out, src, bytes: (opts.kernelMiB + initramfsMiB) * MiB };
}

/** A simulated device under `base`: running slot A (v1.0.0), config for `slots`. */
function makeDevice(base, serverUrl, slotConfig) {
  const dev = join(base, 'device');
  for (const d of ['etc/kubesolo', 'boot/grub', 'proc/sys/kernel/random', 'var/lib/kubesolo'])
    mkdirSync(join(dev, d), { recursive: true });
  writeFileSync(join(dev, 'proc/cmdline'), 'BOOT_IMAGE=/vmlinuz kubesolo.slot=A\n');
  writeFileSync(join(dev, 'proc/sys/kernel/random/boot_id'), 'bench-boot\n');
  writeFileSync(join(dev, 'etc/kubesolo/update.pub'), `${publicHex}\n`);
  const conf = {
    server: serverUrl,
    pubkey: '/etc/kubesolo/update.pub',
    grubenv: '/boot/grub/grubenv',
    ...slotConfig,
  };
  writeFileSync(
    join(dev, 'etc/kubesolo/update.conf'),
    Object.entries(conf)
      .map(([k, v]) => `${k}=${v}`)
      .join('\n') + '\n',
  );
  const env = join(dev, 'boot/grub/grubenv');
  sh('grub-editenv', [env, 'create']);
  sh('grub-editenv', [env, 'set', 'active_slot=A', 'boot_success=1', 'boot_counter=3']);
  return dev;
}

function resetDevice(dev) {
  rmSync(join(dev, 'var/lib/kubesolo/update'), { recursive: true, force: true });
}

function dirSlots(dev) {
  mkdirSync(join(dev, 'slots/a'), { recursive: true });
  writeFileSync(join(dev, 'slots/a/vmlinuz'), 'k');
  writeFileSync(join(dev, 'slots/a/kubesolo-os.gz'), 'i');
  writeFileSync(join(dev, 'slots/a/version'), 'v1.0.0\n');
}

function loopFile(path, bytes) {
  writeFileSync(path, '');
  spawnSync('truncate', ['-s', String(bytes), path]);
  const device = sh('losetup', ['--find', '--show', path]);
  loops.push(device);
  return device;
}

const slotBytes = (release) => Math.ceil((release.bytes * 1.25) / MiB + 64) * MiB;

/** ext4 slots on loop devices, labelled, A holding v1.0.0. */
function blockSlots(base, release) {
  const tag = Math.random().toString(36).slice(2, 7).toUpperCase();
  const labels = { A: `KBA${tag}`, B: `KBB${tag}` };
  const a = loopFile(join(base, 'slot-a.img'), 64 * MiB);
  const b = loopFile(join(base, 'slot-b.img'), slotBytes(release));
  sh('mkfs.ext4', ['-q', '-F', '-L', labels.A, a]);
  sh('mkfs.ext4', ['-q', '-F', '-L', labels.B, b]);
  const mp = mkdtempSync(join(base, 'mnt-'));
  sh('mount', [a, mp]);
  writeFileSync(join(mp, 'vmlinuz'), 'k');
  writeFileSync(join(mp, 'kubesolo-os.gz'), 'i');
  writeFileSync(join(mp, 'version'), 'v1.0.0\n');
  sh('umount', [mp]);
  return { labels, b };
}

/**
 * Mender 3.4 standalone on loop devices: what it needs to run here (issue #16): a
 * config naming the two partitions, /etc/mender/artifact_info, fw_printenv/fw_setenv
 * keeping their variables in a file, and a `mount` that shows partition A as `/`
 * (the last three as scripts first on its PATH; /etc/mender/artifact_info is created
 * for the run and removed afterwards if it was not there).
 */
function menderSetup(base, release, serverDir) {
  const m = join(base, 'mender');
  const bin = join(m, 'bin');
  mkdirSync(bin, { recursive: true });
  const a = loopFile(join(base, 'mender-a.img'), slotBytes(release));
  const b = loopFile(join(base, 'mender-b.img'), slotBytes(release));
  // The payload: an ext4 image holding the same two files, sized to its content.
  const payload = join(m, 'rootfs.ext4');
  const payloadMiB = Math.ceil((release.bytes * 1.08) / MiB + 16);
  sh('mkfs.ext4', ['-q', '-F', '-d', release.src, payload, `${payloadMiB}M`]);
  const key = join(m, 'artifact.key');
  const pub = join(m, 'artifact.pub');
  sh('openssl', ['ecparam', '-genkey', '-name', 'prime256v1', '-noout', '-out', key]);
  sh('openssl', ['ec', '-in', key, '-pubout', '-out', pub]);
  const artifact = join(serverDir, `${release.name}.mender`);
  sh('mender-artifact', [
    'write',
    'rootfs-image',
    '-t',
    'bench',
    '-n',
    'v2.0.0',
    '-f',
    payload,
    '-o',
    artifact,
    '-k',
    key,
    '--compression',
    'none',
  ]);
  rmSync(payload);
  const conf = join(m, 'mender.conf');
  writeFileSync(
    conf,
    JSON.stringify({ RootfsPartA: a, RootfsPartB: b, ArtifactVerifyKey: pub }) + '\n',
  );
  const envFile = join(m, 'fw_env');
  const partNo = (dev) => /(\d+)$/.exec(dev)[1];
  const freshEnv = () =>
    writeFileSync(
      envFile,
      `mender_boot_part=${partNo(a)}\nmender_boot_part_hex=${Number(partNo(a)).toString(16)}\nupgrade_available=0\nbootcount=0\n`,
    );
  writeFileSync(
    join(bin, 'fw_printenv'),
    `#!/bin/sh
# fw_printenv over a plain file (${envFile}): [-n] [NAME...]
f=${envFile}; n=0; [ "$1" = -n ] && { n=1; shift; }
[ $# -eq 0 ] && { cat "$f"; exit 0; }
for v in "$@"; do
  line=$(grep "^$v=" "$f") || { echo "## Error: \\"$v\\" not defined" >&2; exit 1; }
  if [ $n = 1 ]; then echo "\${line#*=}"; else echo "$line"; fi
done
`,
  );
  writeFileSync(
    join(bin, 'fw_setenv'),
    `#!/bin/sh
# fw_setenv over a plain file (${envFile}): NAME VALUE, or -s FILE|- with "NAME VALUE" or NAME=VALUE lines
f=${envFile}
set_one() { grep -v "^$1=" "$f" > "$f.new"; [ -n "$2" ] && echo "$1=$2" >> "$f.new"; mv "$f.new" "$f"; }
if [ "$1" = -s ]; then
  src=$2; [ "$src" = - ] && src=/dev/stdin
  while IFS= read -r l; do
    [ -z "$l" ] && continue
    case "$l" in *=*) set_one "\${l%%=*}" "\${l#*=}";; *) set_one "\${l%% *}" "\${l#* }";; esac
  done < "$src"
else
  n=$1; shift; set_one "$n" "$*"
fi
`,
  );
  writeFileSync(
    join(bin, 'mount'),
    `#!/bin/sh\n# Partition A is the running root filesystem, as far as Mender can tell.\necho "${a} on / type ext4 (rw,relatime)"\n`,
  );
  for (const f of ['fw_printenv', 'fw_setenv', 'mount']) chmodSync(join(bin, f), 0o755);
  const info = '/etc/mender/artifact_info';
  if (!existsSync(info)) {
    mkdirSync('/etc/mender', { recursive: true });
    writeFileSync(info, 'artifact_name=v1.0.0\n');
    undo.push(() => rmSync(info, { force: true }));
  }
  const data = join(m, 'data');
  const reset = () => {
    rmSync(data, { recursive: true, force: true });
    mkdirSync(data, { recursive: true });
    writeFileSync(join(data, 'device_type'), 'device_type=bench\n');
    freshEnv();
    spawnSync('blkdiscard', ['-f', b]);
  };
  const env = { ...process.env, PATH: `${bin}:${process.env.PATH}` };
  return { artifact, conf, data, reset, env, b };
}

/** User + system CPU (ms) a process has used so far, from /proc (clock ticks of 10 ms). */
function processCpuMs(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** Wall time (ms) of a command run once, after `sync`, under the same nice. */
async function timeOnce(cmd, args) {
  spawnSync('sync');
  const res = await run(cmd, args);
  if (res.code !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${res.err}`);
  return res;
}

/**
 * One apply per dir-slot medium with debug logs: the phases between the log lines
 * (process start → metadata verified → kernel verified → initramfs verified (its
 * fsync and all but the last range of its read-back included) → installed (the
 * read-back's last range, the renames and the comparison) → exit); then the hardware's
 * own times for the same bytes.
 */
async function timeline(setup, stats, reset) {
  const rows = [];
  for (const where of ['tmpfs', 'disk']) {
    const row = setup.rows[`apply-${where}`];
    row.prepare();
    spawnSync('sync');
    await reset();
    const started = Date.now();
    const serverCpu0 = processCpuMs(serverPid);
    const res = await run(row.cmd[0], [...row.cmd[1], '--log-level', 'debug']);
    const serverCpu = processCpuMs(serverPid) - serverCpu0;
    const ended = started + res.ms;
    if (!row.check(res)) throw new Error(`apply failed: ${res.err.slice(-2000)}`);
    const at = (pred) => {
      const line = res.err
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l))
        .find(pred);
      return line ? Date.parse(line.time) : NaN;
    };
    const marks = [
      ['start-up, lock, boot environment, metadata + signature', started],
      ['', at((l) => l.msg === 'release metadata verified')],
      [
        'kernel: download, SHA-256, write, fsync, read-back',
        at((l) => l.artifact === 'vmlinuz' && l.msg === 'artifact verified'),
      ],
      [
        'initramfs: download, SHA-256, write, fsync, O_DIRECT read-back trailing the syncs',
        at((l) => l.artifact === 'initramfs' && l.msg === 'artifact verified'),
      ],
      [
        'install: renames, compare the read-backs with the verified digests',
        at((l) => l.msg === 'slot read back'),
      ],
      ['version, state.json, exit', ended],
    ];
    const phases = [];
    for (let i = 1; i < marks.length; i++) {
      const label = i === 1 ? marks[0][0] : marks[i][0];
      phases.push([label, marks[i][1] - marks[i - 1][1]]);
    }
    // The hardware's share, same bytes, same medium, same run: the initramfs apply
    // just installed, hashed by openssl and read with O_DIRECT by dd; curl -o for the
    // network + write floor.
    const image = join(row.dev, 'slots/b/kubesolo-os.gz');
    const sha = await timeOnce('openssl', ['dgst', '-sha256', image]);
    const dd = await timeOnce('dd', [
      `if=${image}`,
      'iflag=direct',
      'bs=1M',
      'of=/dev/null',
      'status=none',
    ]);
    const curl = setup.rows[`curl-${where}`];
    curl.prepare();
    const curlRes = await timeOnce(curl.cmd[0], curl.cmd[1]);
    rows.push({
      where,
      phases,
      total: res.ms,
      cpu: res.cpu,
      serverCpu,
      sha: sha.ms,
      dd: dd.ms,
      curl: curlRes.ms,
      sent: (await stats()).bytesSent,
    });
  }
  const lines = [
    `Measured ${new Date().toISOString().replace(/\.\d+Z$/, 'Z')} by \`node bench/apply.bench.mjs --timeline\`, one run each, 1-min load average ${loadavg()[0].toFixed(1)} (shared machine): ` +
      `${opts.sizeMiB} MiB initramfs + ${opts.kernelMiB} MiB kernel, signed metadata, dir slots; phases from the timestamps of \`--log-level debug\` lines.`,
    '',
    `| phase | ${rows.map((r) => `${r.where} s`).join(' | ')} |`,
    `| --- | ${rows.map(() => '---:').join(' | ')} |`,
    ...rows[0].phases.map(
      ([label], i) =>
        `| ${label} | ${rows.map((r) => (r.phases[i][1] / 1000).toFixed(2)).join(' | ')} |`,
    ),
    `| **whole process** (CPU s) | ${rows.map((r) => `${(r.total / 1000).toFixed(2)} (${(r.cpu / 1000).toFixed(2)})`).join(' | ')} |`,
    `| CPU of the server process while it served this apply | ${rows.map((r) => (r.serverCpu / 1000).toFixed(2)).join(' | ')} |`,
    '',
    `The hardware, same run, same ${opts.sizeMiB} MiB file on the same medium (wall s, one run each, after \`sync\`):`,
    '',
    `| baseline | ${rows.map((r) => `${r.where} s`).join(' | ')} |`,
    `| --- | ${rows.map(() => '---:').join(' | ')} |`,
    `| \`openssl dgst -sha256\` of the installed initramfs (this CPU's SHA-256) | ${rows.map((r) => (r.sha / 1000).toFixed(2)).join(' | ')} |`,
    `| \`dd iflag=direct bs=1M\` of it (the medium's read) | ${rows.map((r) => (r.dd / 1000).toFixed(2)).join(' | ')} |`,
    `| \`curl -s -o\` both files (network + write) | ${rows.map((r) => (r.curl / 1000).toFixed(2)).join(' | ')} |`,
  ];
  const report = lines.join('\n');
  console.log('\n' + report);
  if (opts.record) {
    recordSection(RESULTS, TIMELINE_SECTION, report);
    console.log(`\nrecorded in ${RESULTS}`);
  }
}

let publicHex = '';

try {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const keyFile = join(shm, 'release.key');
  writeFileSync(keyFile, privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 });
  const spki = publicKey.export({ format: 'der', type: 'spki' });
  publicHex = spki.subarray(spki.length - 32).toString('hex');

  console.log(
    `publishing ${opts.smallMiB} MiB and ${opts.sizeMiB} MiB releases (+ ${opts.kernelMiB} MiB kernel)`,
  );
  const serverDir = join(shm, 'www');
  mkdirSync(serverDir);
  const releases = {
    small: publish('small', opts.smallMiB, keyFile),
    big: publish('big', opts.sizeMiB, keyFile),
  };
  for (const r of Object.values(releases)) {
    sh('mv', [r.dir, join(serverDir, r.name)]);
    r.dir = join(serverDir, r.name);
  }
  const server = spawn(
    'nice',
    ['-n', String(opts.nice), process.execPath, join(here, 'download-server.mjs'), serverDir],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  serverPid = server.pid;
  const port = await new Promise((res) =>
    server.stdout.once('data', (d) => res(Number(String(d).trim()))),
  );
  const base = `http://127.0.0.1:${port}`;
  const fileUrl = (r, f) => `${base}/${r.name}/v2.0.0/${f}`;
  const stats = async () => (await fetch(`${base}/__stats`)).json();
  const reset = () => fetch(`${base}/__reset`);

  // Devices and targets, per release.
  const setups = {};
  for (const [size, r] of Object.entries(releases)) {
    const s = { release: r, rows: {} };
    for (const [where, dir] of [
      ['tmpfs', join(shm, `${size}-tmpfs`)],
      ['disk', join(disk, `${size}-disk`)],
    ]) {
      mkdirSync(dir, { recursive: true });
      const dev = makeDevice(dir, `${base}/${r.name}/latest.json`, {
        slot_backend: 'dir',
        slot_a_dir: '/slots/a',
        slot_b_dir: '/slots/b',
      });
      dirSlots(dev);
      const out = join(dir, 'curl-out');
      mkdirSync(out);
      const k = fileUrl(r, 'vmlinuz');
      const i = fileUrl(r, 'kubesolo-os.gz');
      s.rows[`apply-${where}`] = {
        prepare: () => {
          resetDevice(dev);
          rmSync(join(dev, 'slots/b'), { recursive: true, force: true });
        },
        cmd: [process.execPath, [AGENT, 'apply', '--root', dev, '--json']],
        check: (res) => res.code === 0 && JSON.parse(res.out).outcome === 'staged',
        dev,
      };
      s.rows[`curl-${where}`] = {
        prepare: () => {
          for (const f of ['k', 'i']) rmSync(join(out, f), { force: true });
        },
        cmd: ['sh', ['-c', `curl -s -o ${out}/k ${k} && curl -s -o ${out}/i ${i}`]],
        check: (res) =>
          res.code === 0 && statSync(`${out}/i`).size === r.bytes - opts.kernelMiB * MiB,
      };
      s.rows[`pipeline-${where}`] = {
        prepare: () => undefined,
        cmd: [
          'sh',
          [
            '-c',
            `curl -s ${k} | tee ${out}/k | openssl dgst -sha256 && curl -s ${i} | tee ${out}/i | openssl dgst -sha256`,
          ],
        ],
        check: (res) => res.code === 0 && res.out.split('\n').filter(Boolean).length === 2,
      };
    }
    if (opts.block) {
      const dir = join(disk, `${size}-block`);
      mkdirSync(dir, { recursive: true });
      const { labels, b } = blockSlots(dir, r);
      const dev = makeDevice(dir, `${base}/${r.name}/latest.json`, {
        slot_backend: 'block',
        slot_a_label: labels.A,
        slot_b_label: labels.B,
      });
      s.rows['apply-block'] = {
        prepare: () => {
          resetDevice(dev);
          sh('mkfs.ext4', ['-q', '-F', '-L', labels.B, b]);
        },
        cmd: [process.execPath, [AGENT, 'apply', '--root', dev, '--json']],
        check: (res) => res.code === 0 && JSON.parse(res.out).outcome === 'staged',
      };
    }
    if (opts.mender) {
      const dir = join(disk, `${size}-mender`);
      mkdirSync(dir, { recursive: true });
      const m = menderSetup(dir, r, serverDir);
      s.rows.mender = {
        prepare: m.reset,
        cmd: [
          'mender',
          [
            '--config',
            m.conf,
            '--data',
            m.data,
            '--no-syslog',
            'install',
            `${base}/${r.name}.mender`,
          ],
        ],
        env: m.env,
        check: (res) => res.code === 0,
      };
    }
    setups[size] = s;
  }

  const runRow = async (row) => {
    row.prepare();
    // Untimed: flush what earlier runs left dirty in the page cache, so that no run
    // pays for another's writeback.
    spawnSync('sync');
    const res = await run(row.cmd[0], row.cmd[1], row.env ? { env: row.env } : {});
    if (!row.check(res))
      throw new Error(`${row.cmd.join(' ')} failed (${res.code}): ${res.err.slice(-2000)}`);
    return res;
  };

  if (opts.timeline) {
    await timeline(setups.big, stats, reset);
    cleanupAll(); // process.exit skips the finally below
    process.exit(0);
  }

  const load0 = loadavg()[0];
  const results = {};
  for (const [size, s] of Object.entries(setups)) {
    results[size] = Object.fromEntries(Object.keys(s.rows).map((n) => [n, []]));
    for (const row of Object.values(s.rows)) await runRow(row); // warm-up
    for (let round = 0; round < opts.rounds; round++) {
      const order = Object.keys(s.rows).sort(() => Math.random() - 0.5);
      for (const name of order) {
        const res = await runRow(s.rows[name]);
        results[size][name].push(res);
        console.log(
          `${size} round ${round + 1} ${name.padEnd(15)} ${(res.ms / 1000).toFixed(2)} s cpu ${(res.cpu / 1000).toFixed(2)} s rss ${(res.rssKiB / 1024).toFixed(1)} MiB`,
        );
      }
    }
  }

  // Resume: kill apply (tmpfs dir slots) when half the initramfs is in the slot.
  const rs = setups.big;
  const resumeRow = rs.rows['apply-tmpfs'];
  resumeRow.prepare();
  await reset();
  const part = join(resumeRow.dev, 'slots/b/.incoming/kubesolo-os.gz.part');
  const half = (rs.release.bytes - opts.kernelMiB * MiB) / 2;
  const killer = killWhenFileReaches(part, half);
  await run(resumeRow.cmd[0], resumeRow.cmd[1], { onSpawn: killer.onSpawn });
  const killedAt = killer.killedAt;
  await waitGone(killer.pids);
  const firstSent = (await stats()).bytesSent;
  const second = await run(resumeRow.cmd[0], resumeRow.cmd[1]);
  if (!resumeRow.check(second)) throw new Error(`resume run failed: ${second.err}`);
  const totalSent = (await stats()).bytesSent;
  const leftovers = readdirSync(join(resumeRow.dev, 'slots/b/.incoming'));
  killTree(server.pid);
  const load1 = loadavg()[0];

  // Report.
  const fmt = (ms) => (ms / 1000).toFixed(2);
  const met = (ok) => (ok ? 'met' : '**missed**');
  const labels = {
    'apply-tmpfs': '`kubesolo-update apply`, dir slots on tmpfs',
    'apply-disk': '`kubesolo-update apply`, dir slots on disk',
    'apply-block': '`kubesolo-update apply`, block slots (ext4 on loop devices)',
    mender: 'Mender 3.4 `mender install URL` (signed artifact → loop partition)',
    'curl-tmpfs': '`curl -s -o` both files, tmpfs',
    'curl-disk': '`curl -s -o` both files, disk',
    'pipeline-tmpfs': '`curl \\| tee \\| openssl dgst -sha256` both files, tmpfs',
    'pipeline-disk': '`curl \\| tee \\| openssl dgst -sha256` both files, disk',
  };
  const baseline = {
    'apply-tmpfs': ['curl-tmpfs', 'pipeline-tmpfs'],
    'apply-disk': ['curl-disk', 'pipeline-disk'],
    'apply-block': ['mender'],
  };
  const ms = (size, n) => median(results[size][n].map((r) => r.ms));
  const tables = [];
  const targets = {};
  for (const size of Object.keys(setups)) {
    const r = setups[size].release;
    tables.push(
      `${size === 'big' ? opts.sizeMiB : opts.smallMiB} MiB initramfs + ${opts.kernelMiB} MiB kernel (${(r.bytes / MiB).toFixed(0)} MiB):`,
      '',
      '| command | median s | min s | max s | median CPU s | peak RSS MiB |',
      '| --- | ---: | ---: | ---: | ---: | ---: |',
      ...Object.keys(results[size]).map((n) => {
        const xs = results[size][n];
        return `| ${labels[n]} | ${fmt(ms(size, n))} | ${fmt(Math.min(...xs.map((x) => x.ms)))} | ${fmt(Math.max(...xs.map((x) => x.ms)))} | ${fmt(median(xs.map((x) => x.cpu)))} | ${(Math.max(...xs.map((x) => x.rssKiB)) / 1024).toFixed(1)} |`;
      }),
      '',
      '| ratio (medians of the same interleaved run) | value |',
      '| --- | ---: |',
      ...Object.entries(baseline).flatMap(([ours, others]) =>
        others
          .filter((o) => results[size][o] && results[size][ours])
          .map((o) => `| ${ours} ÷ ${o} | ${(ms(size, ours) / ms(size, o)).toFixed(2)} |`),
      ),
      '',
    );
  }
  const big = 'big';
  const ratio = (a, b) => (results[big][a] && results[big][b] ? ms(big, a) / ms(big, b) : NaN);
  targets.pipelineTmpfs = ratio('apply-tmpfs', 'pipeline-tmpfs') <= 0.75;
  targets.pipelineDisk = ratio('apply-disk', 'pipeline-disk') <= 0.75;
  targets.curlTmpfs = ratio('apply-tmpfs', 'curl-tmpfs') <= 2.5;
  targets.curlDisk = ratio('apply-disk', 'curl-disk') <= 2.5;
  if (opts.mender && opts.block) targets.mender = ratio('apply-block', 'mender') < 1;
  const peak = (size) =>
    Math.max(
      ...['apply-tmpfs', 'apply-disk', 'apply-block']
        .filter((n) => results[size][n])
        .flatMap((n) => results[size][n].map((x) => x.rssKiB)),
    ) / 1024;
  const rssBig = peak('big');
  const rssSmall = peak('small');
  targets.rss = rssBig <= 128 && rssBig <= rssSmall * 1.1;
  targets.resume = totalSent <= rs.release.bytes + 8 * MiB;
  const lines = [
    `Measured ${new Date().toISOString().replace(/\.\d+Z$/, 'Z')} by \`node bench/apply.bench.mjs\` (\`npm run bench -- apply\`):`,
    `Node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}, 1-min load average ${load0.toFixed(1)} → ${load1.toFixed(1)} ` +
      `(the machine is shared with other jobs; every measured process runs at \`nice ${opts.nice}\`, and ratios come from medians of the same interleaved rounds).`,
    `Release: random bytes published by \`kubesolo-release publish\` (signed latest.json: the device checks the metadata signature and each image's SHA-256 and size, not the image signatures), ` +
      `served over loopback HTTP by \`bench/download-server.mjs\` in its own process from tmpfs. ${opts.rounds} rounds in shuffled order after a warm-up, \`sync\` (untimed) before every run; ` +
      `wall time from spawn to exit; CPU = user + system of the process tree; peak RSS by GNU time. "disk" is the VM's root ext4; block and Mender partitions are loop devices backed by files on it, ` +
      `their filesystem (ours: \`mkfs.ext4\`) or contents (Mender: \`blkdiscard\`) reset untimed before each run. apply fsyncs and reads the slot back (O_DIRECT where the filesystem allows it); curl does neither.`,
    '',
    ...tables,
    `Targets (1 GiB): apply ÷ pipeline ≤ 0.75: tmpfs ${ratio('apply-tmpfs', 'pipeline-tmpfs').toFixed(2)} ${met(targets.pipelineTmpfs)}, disk ${ratio('apply-disk', 'pipeline-disk').toFixed(2)} ${met(targets.pipelineDisk)}; ` +
      `apply ÷ \`curl -o\` ≤ 2.5: tmpfs ${ratio('apply-tmpfs', 'curl-tmpfs').toFixed(2)} ${met(targets.curlTmpfs)}, disk ${ratio('apply-disk', 'curl-disk').toFixed(2)} ${met(targets.curlDisk)}` +
      (targets.mender === undefined
        ? '; Mender row not run.'
        : `; block apply ÷ Mender < 1.0: ${ratio('apply-block', 'mender').toFixed(2)} ${met(targets.mender)}.`),
    '',
    `Peak RSS of apply: ${rssBig.toFixed(1)} MiB for ${opts.sizeMiB} MiB vs ${rssSmall.toFixed(1)} MiB for ${opts.smallMiB} MiB; target ≤ 128 MiB and flat (within 10 %): ${met(targets.rss)}.`,
    '',
    `Resume (dir slots on tmpfs): the first apply was killed with SIGKILL when the initramfs' partial file in slot B reached ${(killedAt / MiB).toFixed(0)} MiB ` +
      `(the server had sent ${(firstSent / MiB).toFixed(1)} MiB, the kernel included). The rerun kept the verified kernel and the partial file and completed; ` +
      `total sent by the server over both runs: ${(totalSent / MiB).toFixed(1)} MiB for a ${(rs.release.bytes / MiB).toFixed(0)} MiB release (+${((totalSent - rs.release.bytes) / MiB).toFixed(1)} MiB); ` +
      `target ≤ size + 8 MiB: ${met(targets.resume)}. Left in the slot's .incoming afterwards: ${leftovers.length === 0 ? 'nothing' : leftovers.join(', ')}.`,
  ];
  const report = lines.join('\n');
  console.log('\n' + report);
  if (opts.record) {
    recordSection(RESULTS, SECTION, report);
    console.log(`\nrecorded in ${RESULTS}`);
  }
} finally {
  cleanupAll();
}
