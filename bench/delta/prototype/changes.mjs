// Share of changed bytes between two uncompressed cpio images, file by file.
//   node changes.mjs OLD.cpio NEW.cpio [--json]
// A regular file of NEW is "unchanged" when a file with the same content (SHA-256) is
// anywhere in OLD (a renamed path, e.g. /lib/modules/6.1.0-55 -> -56, still counts as
// changed only if its bytes differ). Reported: changed file bytes / all file bytes of NEW,
// the same split by area (kernel modules, Go payloads, the rest), and the number of
// entries added, removed and changed by path.
import { createHash } from 'node:crypto';
import { openSync, closeSync } from 'node:fs';
import { listEntries, readRange, S_IFMT, S_IFREG } from './cpio.mjs';

function contents(path) {
  const { entries, total } = listEntries(path);
  const fd = openSync(path, 'r');
  const files = new Map();
  const hashes = new Set();
  for (const e of entries) {
    if ((e.mode & S_IFMT) !== S_IFREG || e.size === 0) {
      files.set(e.name, { size: 0, hash: `${e.mode}` });
      continue;
    }
    const h = createHash('sha256');
    for (let at = e.dataOffset; at < e.dataOffset + e.size; at += 1 << 24) {
      h.update(readRange(fd, at, Math.min(at + (1 << 24), e.dataOffset + e.size)));
    }
    const hash = h.digest('hex');
    files.set(e.name, { size: e.size, hash });
    hashes.add(hash);
  }
  closeSync(fd);
  return { files, hashes, total, entries: entries.length };
}

export function area(name) {
  if (/(^|\/)lib\/modules\//.test(name)) return 'kernel modules';
  if (/kernel\/x86\/microcode/.test(name)) return 'microcode';
  if (
    /(^|\/)usr\/(s?bin|lib\/cni|libexec\/(docker|podman|snapd)|lib\/snapd)\//.test(name) &&
    /(containerd|runc|docker|dockerd|etcd|kubectl|skopeo|podman|node_exporter|git-lfs|snap|cni|conmon|crun)/.test(
      name,
    )
  )
    return 'Go and container payloads';
  return 'userland (libraries, tools, data)';
}

export function compare(oldPath, newPath) {
  const a = contents(oldPath);
  const b = contents(newPath);
  const byArea = {};
  let fileBytes = 0;
  let changedBytes = 0;
  let added = 0;
  let changedByPath = 0;
  for (const [name, f] of b.files) {
    const k = area(name);
    byArea[k] ??= { bytes: 0, changed: 0 };
    byArea[k].bytes += f.size;
    fileBytes += f.size;
    const old = a.files.get(name);
    if (!old) added++;
    else if (old.hash !== f.hash) changedByPath++;
    if (f.size > 0 && !a.hashes.has(f.hash)) {
      changedBytes += f.size;
      byArea[k].changed += f.size;
    }
  }
  let removed = 0;
  for (const name of a.files.keys()) if (!b.files.has(name)) removed++;
  return {
    oldBytes: a.total,
    newBytes: b.total,
    entries: b.entries,
    fileBytes,
    changedBytes,
    changedShare: changedBytes / fileBytes,
    added,
    removed,
    changedByPath,
    byArea,
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [oldPath, newPath] = process.argv.slice(2);
  const r = compare(oldPath, newPath);
  if (process.argv.includes('--json')) console.log(JSON.stringify(r, null, 2));
  else {
    console.log(
      `${newPath} vs ${oldPath}: ${r.changedBytes} of ${r.fileBytes} file bytes changed ` +
        `(${(100 * r.changedShare).toFixed(2)} %); entries +${r.added} -${r.removed} ~${r.changedByPath}`,
    );
    for (const [k, v] of Object.entries(r.byArea))
      console.log(
        `  ${k}: ${v.changed} of ${v.bytes} (${((100 * v.changed) / (v.bytes || 1)).toFixed(2)} %)`,
      );
  }
}
