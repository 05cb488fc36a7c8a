// Download, hash and stage benchmark (issue #4). A 1 GiB file is served from a
// separate process on loopback (bench/download-server.mjs); in the same run, in
// shuffled interleaved rounds, it times:
//   baseline   sh -c 'curl -s URL | tee FILE | openssl dgst -sha256'
//   agent      downloadToFile(): download + SHA-256 + stage (fsync, rename)
//   agent+sig  the same plus streaming Ed25519 verification
// It also records the client's peak RSS for 1 GiB vs 64 MiB, and a resume run: the
// download is killed with SIGKILL at ~50 %, rerun, and the bytes the server sent in
// total are counted.
//   node bench/download.bench.mjs [--size-mib 1024] [--small-mib 64] [--rounds 5]
//                                 [--record] [--check]
// --record rewrites the "Download, hash and stage" section of bench/RESULTS.md;
// --check exits 1 when a target is missed. Large files live in a temp dir that is
// deleted at the end (also on failure).
import { spawn, spawnSync } from 'node:child_process';
import { generateKeyPairSync, sign } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import {
  MiB,
  killTree,
  killWhenFileReaches,
  makeFile,
  median,
  parseFlags,
  processTimer,
} from './measure.mjs';
import { recordSection } from './results-file.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..');
const RESULTS = join(root, 'bench/RESULTS.md');
const SECTION = '## Download, hash and stage';

const opts = {
  sizeMiB: 1024,
  smallMiB: 64,
  rounds: 5,
  record: false,
  check: false,
  disk: true,
  nice: -10,
};
parseFlags(process.argv.slice(2), opts);

const tmp = mkdtempSync(join(tmpdir(), 'ks-bench-dl-'));
const cleanup = () => rmSync(tmp, { recursive: true, force: true });
process.on('SIGINT', () => {
  cleanupAll();
  process.exit(130);
});

const makeFileMiB = (path, mib) => makeFile(path, mib * MiB);
const run = processTimer(tmp, opts.nice);

function clearDest(dest) {
  for (const p of [dest, `${dest}.part`, `${dest}.part.json`]) rmSync(p, { force: true });
}

const shm = existsSync('/dev/shm') ? mkdtempSync('/dev/shm/ks-bench-dl-') : undefined;
const cleanupAll = () => {
  cleanup();
  if (shm) rmSync(shm, { recursive: true, force: true });
};

try {
  const srcDir = shm ?? tmp;
  const big = join(srcDir, 'big.bin');
  const small = join(srcDir, 'small.bin');
  console.log(`generating ${opts.sizeMiB} MiB and ${opts.smallMiB} MiB files in ${srcDir}`);
  const files = {
    big: {
      path: big,
      name: 'big.bin',
      size: opts.sizeMiB * MiB,
      sha256: makeFileMiB(big, opts.sizeMiB),
    },
    small: {
      path: small,
      name: 'small.bin',
      size: opts.smallMiB * MiB,
      sha256: makeFileMiB(small, opts.smallMiB),
    },
  };
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const pub = Buffer.from(publicKey.export({ format: 'jwk' }).x, 'base64url').toString('hex');
  for (const f of Object.values(files))
    f.sig = sign(null, readFileSync(f.path), privateKey).toString('hex');

  // Bundle the client like scripts/build.mjs bundles the binaries.
  const client = join(tmp, 'client.mjs');
  await build({
    entryPoints: [join(here, 'download-client.ts')],
    outfile: client,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    minify: true,
    banner: {
      js: "import { createRequire as __r } from 'node:module'; const require = __r(import.meta.url);",
    },
    logLevel: 'warning',
  });

  const server = spawn(
    'nice',
    ['-n', String(opts.nice), process.execPath, join(here, 'download-server.mjs'), srcDir],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const port = await new Promise((res) =>
    server.stdout.once('data', (d) => res(Number(String(d).trim()))),
  );
  const url = (f) => `http://127.0.0.1:${port}/${f.name}`;
  const stats = async () => (await fetch(`http://127.0.0.1:${port}/__stats`)).json();
  const reset = () => fetch(`http://127.0.0.1:${port}/__reset`);

  const targetsDirs = [
    ...(shm ? [['tmpfs', join(shm, 'stage')]] : []),
    ...(opts.disk || !shm ? [['disk', join(tmp, 'stage')]] : []),
  ];
  const agentArgs = (f, dest, mode) =>
    JSON.stringify({
      url: url(f),
      dest,
      sha256: f.sha256,
      size: f.size,
      ...(mode === 'sig' ? { sig: f.sig, pub } : {}),
      ...(mode === 'receive' ? { mode } : {}),
    });

  const runVariant = async (name, f, dest) => {
    clearDest(dest);
    // Untimed: flush what earlier runs left dirty in the page cache, so that no run
    // pays for another's writeback (the baseline's tee leaves 1 GiB dirty behind).
    spawnSync('sync');
    let r;
    if (name === 'baseline') {
      r = await run('sh', ['-c', `curl -s ${url(f)} | tee ${dest} | openssl dgst -sha256`]);
      if (!r.out.includes(f.sha256)) throw new Error(`baseline digest mismatch: ${r.out} ${r.err}`);
    } else {
      const mode = name === 'agentSig' ? 'sig' : name === 'receive' ? 'receive' : 'plain';
      r = await run(process.execPath, [client, agentArgs(f, dest, mode)]);
      if (r.code !== 0) throw new Error(`${name} failed: ${r.err}`);
      const res = JSON.parse(r.out);
      if (mode !== 'receive' && res.signatureVerified !== (mode === 'sig'))
        throw new Error('signature flag mismatch');
    }
    clearDest(dest);
    return r;
  };

  const load0 = loadavg()[0];
  const names = ['baseline', 'agent', 'agentSig', 'receive'];
  const results = {};
  const rss = { big: [], small: [], bigSig: [], smallSig: [] };
  for (const [where, dest] of targetsDirs) {
    mkdirSync(dirname(dest), { recursive: true });
    results[where] = Object.fromEntries(names.map((n) => [n, { ms: [], cpu: [] }]));
    await runVariant('baseline', files.big, dest); // warm-up
    await runVariant('agent', files.small, dest);
    for (let r = 0; r < opts.rounds; r++) {
      const order = [...names].sort(() => Math.random() - 0.5);
      for (const name of order) {
        const res = await runVariant(name, files.big, dest);
        results[where][name].ms.push(res.ms);
        results[where][name].cpu.push(res.cpu);
        if (name === 'agent') rss.big.push(res.rssKiB);
        if (name === 'agentSig') rss.bigSig.push(res.rssKiB);
        console.log(
          `${where} round ${r + 1} ${name.padEnd(8)} ${(res.ms / 1000).toFixed(2)} s cpu ${(res.cpu / 1000).toFixed(2)} s rss ${(res.rssKiB / 1024).toFixed(1)} MiB`,
        );
      }
      rss.small.push((await runVariant('agent', files.small, dest)).rssKiB);
      rss.smallSig.push((await runVariant('agentSig', files.small, dest)).rssKiB);
    }
  }

  // Resume: kill at ~50 %, rerun, count what the server sent.
  const [, resumeDest] = targetsDirs[0];
  clearDest(resumeDest);
  await reset();
  const half = files.big.size / 2;
  const killer = killWhenFileReaches(`${resumeDest}.part`, half);
  await run(process.execPath, [client, agentArgs(files.big, resumeDest, 'plain')], {
    onSpawn: killer.onSpawn,
  });
  const killedAt = killer.killedAt;
  const partial = statSync(`${resumeDest}.part`).size;
  const firstSent = (await stats()).bytesSent;
  const second = await run(process.execPath, [client, agentArgs(files.big, resumeDest, 'plain')]);
  if (second.code !== 0) throw new Error(`resume run failed: ${second.err}`);
  const resumed = JSON.parse(second.out);
  const totalSent = (await stats()).bytesSent;
  clearDest(resumeDest);
  killTree(server.pid);
  const load1 = loadavg()[0];

  // Report.
  const fmt = (ms) => (ms / 1000).toFixed(2);
  const mibps = (ms) => (files.big.size / MiB / (ms / 1000)).toFixed(0);
  const peak = (xs) => Math.max(...xs) / 1024;
  const rssBig = Math.max(peak(rss.big), peak(rss.bigSig));
  const rssSmall = Math.max(peak(rss.small), peak(rss.smallSig));
  const met = (ok) => (ok ? 'met' : '**missed**');
  const targets = {};
  const labels = {
    baseline: 'baseline: `curl -s URL \\| tee FILE \\| openssl dgst -sha256`',
    agent: 'agent: download + SHA-256 + stage',
    agentSig: 'agent + streaming Ed25519 verification',
    receive: 'diagnostic: undici request, body discarded (no hash, no file)',
  };
  const tables = [];
  for (const [where] of targetsDirs) {
    const res = results[where];
    const base = median(res.baseline.ms);
    const ratio = (n) => median(res[n].ms) / base;
    targets[`${where}-agent`] = ratio('agent') <= 1.1;
    targets[`${where}-agentSig`] = ratio('agentSig') <= 1.25;
    tables.push(
      `Staging on ${where === 'tmpfs' ? 'tmpfs (`/dev/shm`): measures the pipeline itself' : 'disk (the root ext4 of the VM, page cache + fsync)'}:`,
      '',
      '| variant | median s | min s | max s | median MiB/s | median CPU s | ratio | target |',
      '| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
      ...names.map((n) => {
        const target =
          n === 'agent'
            ? `≤ 1.10×: ${met(ratio(n) <= 1.1)}`
            : n === 'agentSig'
              ? `≤ 1.25×: ${met(ratio(n) <= 1.25)}`
              : '';
        return `| ${labels[n]} | ${fmt(median(res[n].ms))} | ${fmt(Math.min(...res[n].ms))} | ${fmt(Math.max(...res[n].ms))} | ${mibps(median(res[n].ms))} | ${fmt(median(res[n].cpu))} | ${ratio(n).toFixed(2)}× | ${target} |`;
      }),
      '',
    );
  }
  targets.rss = rssBig <= 128 && rssBig <= rssSmall * 1.1;
  targets.resume = totalSent <= files.big.size + 8 * MiB;
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  const lines = [
    `Measured ${new Date().toISOString().replace(/\.\d+Z$/, 'Z')} by \`node bench/download.bench.mjs\` (\`npm run bench -- download\`):`,
    `Node ${process.version}, ${cpus().length} × ${cpu}, 1-min load average ${load0.toFixed(1)} → ${load1.toFixed(1)} (the machine is shared; every measured process runs at \`nice ${opts.nice}\`).`,
    `File: ${opts.sizeMiB} MiB of random bytes served over loopback HTTP by \`bench/download-server.mjs\` in its own process, from tmpfs; ` +
      `${opts.rounds} interleaved rounds in shuffled order after a warm-up, \`sync\` (untimed) before every run; wall time from spawn to exit, CPU = user + system of the process tree (GNU time). ` +
      `The agent rows run \`downloadToFile()\` (bundled by esbuild like the binaries); they include its fsync of the staged file, which the baseline does not do.`,
    '',
    ...tables,
    '| peak RSS of the agent process (max over runs, GNU time) | without signature | with signature |',
    '| --- | ---: | ---: |',
    `| ${opts.smallMiB} MiB file | ${peak(rss.small).toFixed(1)} MiB | ${peak(rss.smallSig).toFixed(1)} MiB |`,
    `| ${opts.sizeMiB} MiB file | ${peak(rss.big).toFixed(1)} MiB | ${peak(rss.bigSig).toFixed(1)} MiB |`,
    '',
    `Peak RSS: ${rssBig.toFixed(1)} MiB for ${opts.sizeMiB} MiB vs ${rssSmall.toFixed(1)} MiB for ${opts.smallMiB} MiB ` +
      `(${((rssBig / rssSmall - 1) * 100).toFixed(1)} %); target ≤ 128 MiB and within 10 %: ${met(targets.rss)}.`,
    '',
    `Resume (staging on ${targetsDirs[0][0]}): the first run was killed with SIGKILL when the partial file reached ${(killedAt / MiB).toFixed(0)} MiB ` +
      `(${(partial / MiB).toFixed(1)} MiB on disk when it died; the server had sent ${(firstSent / MiB).toFixed(1)} MiB). The rerun resumed from ${(resumed.resumedFrom / MiB).toFixed(1)} MiB, ` +
      `fetched ${(resumed.bytesFetched / MiB).toFixed(1)} MiB and verified the whole file. Total sent by the server over both runs: ` +
      `${(totalSent / MiB).toFixed(1)} MiB for a ${opts.sizeMiB} MiB file (+${((totalSent - files.big.size) / MiB).toFixed(1)} MiB); target ≤ size + 8 MiB: ${met(targets.resume)}.`,
  ];
  const report = lines.join('\n');
  console.log('\n' + report);
  if (opts.record) {
    recordSection(RESULTS, SECTION, report);
    console.log(`\nrecorded in ${RESULTS}`);
  }
  if (opts.check && !Object.values(targets).every(Boolean)) process.exitCode = 1;
} finally {
  cleanupAll();
}
