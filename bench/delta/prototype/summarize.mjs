// Markdown tables for FINDINGS.md from measure.mjs's JSON (designs), reference.sh's TSV
// and patch-design.mjs's JSON lines.
//   node summarize.mjs designs.json reference.tsv patches.jsonl [gzip_v3_bytes]
import { readFileSync } from 'node:fs';

const [designsPath, refPath, patchesPath] = process.argv.slice(2);
const d = JSON.parse(readFileSync(designsPath, 'utf8'));
const gz = d.gzipSize.v3;
const MB = (n) => (n / 1e6).toFixed(2);
const pct = (n) => `${((100 * n) / gz).toFixed(2)} %`;

// Reference rows.
const ref = readFileSync(refPath, 'utf8')
  .trim()
  .split('\n')
  .slice(1)
  .map((l) => l.split('\t'));
const best = {};
console.log(
  '| reference | pair | bytes | MB | of gzip -9 v3 | encode s (RSS MiB) | decode s (RSS MiB) |',
);
console.log('|---|---|---:|---:|---:|---|---|');
for (const [tool, pair, bytes, es, erss, , ds, drss] of ref) {
  if (bytes === '-') {
    console.log(`| ${tool} | ${pair} | | | | | ${ds} s (${(drss / 1024).toFixed(0)}) |`);
    continue;
  }
  const n = Number(bytes);
  const isCasync = tool.startsWith('casync');
  if (isCasync) {
    // casync rows: chunk bytes; index and one GET per chunk added below
    const chunks = Number(/chunks=(\d+)/.exec(es)?.[1] ?? 0);
    const index = Number(/index=(\d+)/.exec(erss)?.[1] ?? 0);
    const total = n + index + (chunks + 1) * d.responseOverhead;
    best[`casync ${pair}`] = Math.min(best[`casync ${pair}`] ?? Infinity, total);
    console.log(
      `| ${tool} (chunks ${MB(n)} MB + index ${MB(index)} MB + ${chunks + 1} GETs) | ${pair} | ${total} | ${MB(total)} | ${pct(total)} | | |`,
    );
  } else {
    best[`diff ${pair}`] = Math.min(best[`diff ${pair}`] ?? Infinity, n + d.responseOverhead);
    console.log(
      `| ${tool} | ${pair} | ${n} | ${MB(n)} | ${pct(n)} | ${es} s (${(erss / 1024).toFixed(0)}) | ${ds} s (${(drss / 1024).toFixed(0)}) |`,
    );
  }
}
console.log();
console.log(
  `Targets: v2->v3 <= 1.5 x ${MB(best['diff v2->v3'])} MB = ${MB(1.5 * best['diff v2->v3'])} MB and < best casync ${MB(best['casync v2->v3'])} MB; ` +
    `v1->v3 < best casync ${MB(best['casync v1->v3'])} MB; v3->v3 <= index + ${MB(gz / 1000)} MB (0.1 % of the image).`,
);
console.log();

// Designs.
const verdict = (pair, total) => {
  if (pair === 'v2->v3')
    return total <= 1.5 * best['diff v2->v3'] && total < best['casync v2->v3'] ? 'met' : 'missed';
  if (pair === 'v1->v3') return total < best['casync v1->v3'] ? 'met' : 'missed';
  return '';
};
console.log(
  '| design | image vs gzip -9 (main part) | pieces | index MB | v2->v3 MB (requests) | v1->v3 MB (requests) | v3->v3 MB | v2->v3 with gaps <= 64 KiB merged MB (requests) |',
);
console.log('|---|---|---:|---:|---|---|---|---|');
for (const [name, r] of Object.entries(d.designs)) {
  const i = r.image.v3;
  const p = r.pairs;
  const cell = (k) => `${MB(p[k].total)} (${p[k].requests}) ${verdict(k, p[k].total)}`;
  console.log(
    `| ${name} | ${((i.vsGzip9 - 1) * 100).toFixed(2)} % (${((i.mainVsGzip9 - 1) * 100).toFixed(2)} %) | ${i.pieces} | ${MB(p['v3->v3'].index)} | ${cell('v2->v3')} | ${cell('v1->v3')} | ${MB(p['v3->v3'].total)} | ${MB(p['v2->v3 (gaps to 64 KiB merged)'].total)} (${p['v2->v3 (gaps to 64 KiB merged)'].requests}) |`,
  );
}
if (patchesPath) {
  console.log();
  console.log(
    '| (e) hybrid + per-piece patches | pair | total MB | index MB | pieces MB | patches MB (pieces patched / missing) | requests | largest reference MiB | verdict |',
  );
  console.log('|---|---|---:|---:|---:|---|---:|---:|---|');
  for (const line of readFileSync(patchesPath, 'utf8').trim().split('\n')) {
    const r = JSON.parse(line);
    console.log(
      `| ${r.avg / 1024} KiB, window ${r.window / 1048576} MiB | ${r.pair} | ${MB(r.total)} | ${MB(r.index)} | ${MB(r.pieceBytes)} | ${MB(r.patchBytes)} (${r.patched} / ${r.missingPieces}) | ${r.requests} | ${(r.maxReference / 1048576).toFixed(1)} | ${verdict(r.pair, r.total)} |`,
    );
  }
}
