/**
 * The repack's equivalence proof (docs/delta.md "Delta-friendly images"): the output,
 * read back through an ordinary gunzip, unpacks to the same files as the input. What
 * is compared is what the kernel's unpacker (init/initramfs.c) makes of an archive:
 * per path the file type and permission bits, owner and group, a regular file's
 * content (a hard-link group's, for its members), a symbolic link's target, a device
 * node's major and minor; which paths are hard links of each other; that every
 * entry's parent directory comes before it; that the early (uncompressed) archive is
 * first and unchanged. mtimes and inode numbers are what the repack changes on purpose.
 */
import { createHash } from 'node:crypto';
import { OperationError } from '../../errors.js';
import { readInitramfs, type Initramfs, type InitramfsEntry } from './initramfs.js';
import { S_IFDIR, S_IFLNK, S_IFMT, S_IFREG } from './newc.js';

export interface RepackProof {
  entries: number;
  files: number;
  directories: number;
  symlinks: number;
  devices: number;
  hardLinkGroups: number;
  /** Bytes of regular-file content compared. */
  contentBytes: number;
  earlyBytes: number;
}

interface FileFacts {
  mode: number;
  uid: number;
  gid: number;
  rdev: string;
  content: string;
}

function notEquivalent(message: string, details: Record<string, unknown> = {}): OperationError {
  return new OperationError('REPACK_NOT_EQUIVALENT', `repack: ${message}`, { details });
}

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

function groupKey(e: InitramfsEntry): string | undefined {
  const h = e.header;
  const type = h.mode & S_IFMT;
  return h.nlink > 1 && type !== S_IFDIR
    ? `${h.ino}:${h.devMajor}:${h.devMinor}:${type}`
    : undefined;
}

/** What the kernel would create from these entries, path by path, and the hard-link groups. */
function facts(entries: InitramfsEntry[]) {
  const groups = new Map<string, InitramfsEntry[]>();
  for (const e of entries) {
    const k = groupKey(e);
    if (k !== undefined) groups.set(k, [...(groups.get(k) ?? []), e]);
  }
  const files = new Map<string, FileFacts>();
  for (const e of entries) {
    const h = e.header;
    const type = h.mode & S_IFMT;
    const k = groupKey(e);
    const data = k === undefined ? e.data : Buffer.concat(groups.get(k)!.map((m) => m.data));
    files.set(e.name, {
      mode: h.mode,
      uid: h.uid,
      gid: h.gid,
      rdev:
        type === S_IFREG || type === S_IFDIR || type === S_IFLNK
          ? ''
          : `${h.rdevMajor}:${h.rdevMinor}`,
      // Directories and others have no content the kernel writes.
      content: type === S_IFREG || type === S_IFLNK ? sha(data) : '',
    });
  }
  const linkSets = [...groups.values()]
    .map((m) =>
      m
        .map((e) => e.name)
        .sort()
        .join('\n'),
    )
    .sort();
  return { files, linkSets };
}

export function proveEquivalent(input: Initramfs, outBytes: Buffer): RepackProof {
  if (!outBytes.subarray(0, input.early.length).equals(input.early)) {
    throw notEquivalent('the early archive is not first and unchanged');
  }
  let output: Initramfs;
  try {
    output = readInitramfs(outBytes);
  } catch (err) {
    throw notEquivalent(`the output does not read back: ${String(err)}`);
  }
  if (!output.early.equals(input.early)) {
    throw notEquivalent('the early archive is not first and unchanged');
  }
  if (output.compression !== 'gzip') throw notEquivalent('the output is not one gzip stream');
  const a = facts(input.entries);
  const b = facts(output.entries);
  if (a.files.size !== b.files.size) {
    throw notEquivalent(`${b.files.size} paths instead of ${a.files.size}`);
  }
  for (const [path, want] of a.files) {
    const got = b.files.get(path);
    if (got === undefined) throw notEquivalent(`${path} is missing`, { path });
    for (const field of ['mode', 'uid', 'gid', 'rdev', 'content'] as const) {
      if (got[field] !== want[field]) {
        throw notEquivalent(`${path}: ${field} differs`, {
          path,
          field,
          expected: want[field],
          actual: got[field],
        });
      }
    }
  }
  if (a.linkSets.join('\0') !== b.linkSets.join('\0')) {
    throw notEquivalent('the hard-link groups differ');
  }
  // Parents before children: the kernel does not create missing directories.
  const seen = new Set<string>();
  for (const e of output.entries) {
    const slash = e.name.lastIndexOf('/');
    const parent = slash > 0 ? e.name.slice(0, slash) : undefined;
    if (parent !== undefined && b.files.has(parent) && !seen.has(parent)) {
      throw notEquivalent(`${e.name} comes before its directory ${parent}`, { path: e.name });
    }
    seen.add(e.name);
  }
  const count = (type: number) =>
    output.entries.filter((e) => (e.header.mode & S_IFMT) === type).length;
  return {
    entries: output.entries.length,
    files: count(S_IFREG),
    directories: count(S_IFDIR),
    symlinks: count(S_IFLNK),
    devices: output.entries.filter(
      (e) => ![S_IFREG, S_IFDIR, S_IFLNK].includes(e.header.mode & S_IFMT),
    ).length,
    hardLinkGroups: a.linkSets.length,
    contentBytes: output.entries.reduce((s, e) => s + e.data.length, 0),
    earlyBytes: input.early.length,
  };
}
