// (e) What per-file patches against the release a device runs could reach: for every
// regular file of NEW whose content OLD lacks, a `zstd -19 --patch-from` patch against the
// file at the same path in OLD (kernel module paths compared without the ABI directory,
// /lib/modules/6.1.0-53-amd64 -> -57), or, for a new path, the file compressed alone with
// gzip -9. A lower bound for a design that ships patches: it leaves out the index and the
// cpio headers, and a device must then recompress what it patched with the exact
// compressor the publisher used to reach the signed bytes.
//   node file-patches.mjs OLD.cpio NEW.cpio   → JSON on stdout
import { createHash } from 'node:crypto';
import { mkdtempSync, openSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { listEntries, readRange, S_IFMT, S_IFREG } from './cpio.mjs';
import { area } from './changes.mjs';

const [oldPath, newPath] = process.argv.slice(2);
const norm = (name) => name.replace(/lib\/modules\/[^/]+\//, 'lib/modules/KVER/');

function files(path) {
  const fd = openSync(path, 'r');
  const out = new Map();
  for (const e of listEntries(path).entries) {
    if ((e.mode & S_IFMT) !== S_IFREG || e.size === 0) continue;
    out.set(norm(e.name), { fd, e });
  }
  return out;
}
const data = ({ fd, e }) => readRange(fd, e.dataOffset, e.dataOffset + e.size);
const hash = (b) => createHash('sha256').update(b).digest('hex');

const oldFiles = files(oldPath);
const newFiles = files(newPath);
const oldHashes = new Set();
for (const f of oldFiles.values()) oldHashes.add(hash(data(f)));

const tmp = mkdtempSync(join(tmpdir(), 'delta-patch-'));
const byArea = {};
let patched = 0;
let added = 0;
let patchBytes = 0;
let addedBytes = 0;
let largestOld = 0;
for (const [name, f] of newFiles) {
  const buf = data(f);
  if (oldHashes.has(hash(buf))) continue;
  const k = area(name);
  byArea[k] ??= { files: 0, bytes: 0 };
  byArea[k].files++;
  const old = oldFiles.get(name);
  let n;
  if (old) {
    const ob = data(old);
    largestOld = Math.max(largestOld, ob.length);
    writeFileSync(join(tmp, 'old'), ob);
    writeFileSync(join(tmp, 'new'), buf);
    const r = spawnSync('zstd', [
      '-q',
      '-f',
      '-19',
      '--long=27',
      `--patch-from=${join(tmp, 'old')}`,
      join(tmp, 'new'),
      '-o',
      join(tmp, 'p'),
    ]);
    if (r.status !== 0) throw new Error(`zstd failed on ${name}: ${r.stderr}`);
    n = statSync(join(tmp, 'p')).size;
    patched++;
    patchBytes += n;
  } else {
    n = gzipSync(buf, { level: 9 }).length;
    added++;
    addedBytes += n;
  }
  byArea[k].bytes += n;
}
rmSync(tmp, { recursive: true, force: true });
console.log(
  JSON.stringify(
    {
      old: oldPath,
      new: newPath,
      patched,
      patchBytes,
      added,
      addedBytes,
      total: patchBytes + addedBytes,
      largestOld,
      byArea,
    },
    null,
    2,
  ),
);
