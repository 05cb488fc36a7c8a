/**
 * The chosen design's rows on the real releases (bench/delta/FINDINGS.md): repack v1,
 * v2, v3 (src/transport/delta/repack.ts), build v3's index with v2 and v1 as patch bases
 * (src/transport/delta/publish-index.ts, what `publish` does), then what a device running v2, v1
 * or v3 would fetch (src/transport/delta/plan.ts: index + patch pack + ranges, plus one response
 * header per request), and the same for the gzip --rsyncable images as they are.
 *
 *   node --import tsx bench/delta/design-rows.ts [RELEASES_DIR] [--avg-log2 16] > rows.json
 *
 * Heavy (three 1 GiB repacks, level 9; patches at zstd -19): prints the load average
 * beside every step on stderr.
 */
import { existsSync, statSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { cutImage } from '../../src/transport/delta/cut.js';
import { planDelta, type SeedImage } from '../../src/transport/delta/plan.js';
import { buildImageIndex } from '../../src/transport/delta/publish-index.js';
import { repackImage } from '../../src/transport/delta/repack.js';

const args = process.argv.slice(2);
const dir = args[0] && !args[0].startsWith('--') ? args[0] : '.tmp/delta-cache/releases';
const avgArg = args.indexOf('--avg-log2');
const avgLog2 = avgArg >= 0 ? Number(args[avgArg + 1]) : 18;
/** Status line and headers of one 206 from S3 behind CloudFront (FINDINGS.md). */
const RESPONSE_OVERHEAD = 500;

const load = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
const say = (what: string, t0: number) =>
  process.stderr.write(`${what}: ${((Date.now() - t0) / 1000).toFixed(1)} s (load ${load()})\n`);

const out: Record<string, unknown> = { dir, avgLog2, loadStart: load() };

// 1. Repack (skipped when the output exists: the repack is deterministic).
const repacked: Record<string, string> = {};
const repackRows: Record<string, unknown> = {};
for (const rel of ['v1', 'v2', 'v3']) {
  const path = join(dir, `${rel}.repacked-${avgLog2}.gz`);
  repacked[rel] = path;
  if (!existsSync(path)) {
    const t0 = Date.now();
    const r = await repackImage(join(dir, `${rel}.gz`), path, { avgLog2 });
    say(`repack ${rel}`, t0);
    repackRows[rel] = { seconds: (Date.now() - t0) / 1000, units: r.units, proof: r.proof };
  }
  const gz = statSync(join(dir, `${rel}.gz`)).size;
  const early = statSync(join(dir, `${rel}.early.cpio`)).size;
  const size = statSync(path).size;
  repackRows[rel] = {
    ...(repackRows[rel] as object),
    bytes: size,
    gzip9: gz,
    vsGzip9: size / gz - 1,
    mainVsGzip9: (size - early) / (gz - early) - 1,
  };
}
out.repack = repackRows;

// 2. v3's index with v2 and v1 as bases (what publish writes).
let t0 = Date.now();
const built = await buildImageIndex(repacked.v3!, 'kubesolo-os.gz', [
  { version: 'v2', path: repacked.v2! },
  { version: 'v1', path: repacked.v1! },
]);
say('index v3 with patches from v2 and v1', t0);
writeFileSync(join(dir, `v3.repacked-${avgLog2}.index`), built.bytes);
for (const p of built.packs) writeFileSync(join(dir, p.file), p.bytes);
out.index = {
  seconds: (Date.now() - t0) / 1000,
  bytes: built.bytes.length,
  pieces: built.index.pieces.length,
  params: built.index.params,
  packs: built.packs.map((p) => ({
    base: p.version,
    bytes: p.bytes.length,
    unpatched: p.unpatched,
  })),
  entries: built.index.bases.map((b) => b.entries.length),
};

/** What a device holding `seeds` fetches for `index`: index + pack + ranges + headers. */
function cost(index: typeof built.index, seeds: SeedImage[], indexBytes: number) {
  const plan = planDelta(index, seeds);
  const requests = 1 + (plan.bytes.pack > 0 ? 1 : 0) + plan.ranges.length;
  return {
    index: indexBytes,
    pack: plan.bytes.pack,
    ranges: plan.bytes.fetched,
    requests,
    total: indexBytes + plan.bytes.pack + plan.bytes.fetched + requests * RESPONSE_OVERHEAD,
    held: plan.bytes.held,
    patched: plan.bytes.patched,
    image: index.imageSize,
  };
}

// 3. Devices running v2, v1, v3 (they cut their image with v3's parameters).
const pairs: Record<string, unknown> = {};
for (const rel of ['v2', 'v1', 'v3']) {
  t0 = Date.now();
  const seed = await cutImage(repacked[rel]!, built.index.params);
  say(`device cut of ${rel}`, t0);
  pairs[`${rel}->v3 repacked`] = {
    ...cost(built.index, [{ label: rel, path: repacked[rel]!, index: seed }], built.bytes.length),
    seedCutSeconds: (Date.now() - t0) / 1000,
  };
}

// 4. gzip --rsyncable images as they are: content-defined pieces of the compressed bytes.
for (const avg of [14, 16]) {
  const params = { mode: 'cdc' as const, avgLog2: avg, level: 0 };
  const v3 = await cutImage(join(dir, 'v3.rsyncable.gz'), params);
  const indexBytes = 64 + 48 * v3.pieces.length;
  for (const rel of ['v2', 'v1', 'v3']) {
    const seed = await cutImage(join(dir, `${rel}.rsyncable.gz`), params);
    pairs[`${rel}->v3 rsyncable, cdc ${2 ** avg / 1024} KiB`] = cost(
      v3,
      [{ label: rel, path: '', index: seed }],
      indexBytes,
    );
  }
}
out.pairs = pairs;
out.loadEnd = load();
console.log(JSON.stringify(out, null, 2));
