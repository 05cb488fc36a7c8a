/**
 * Block devices for the `block` slot store: find a filesystem by label, see where it
 * is mounted, mount and unmount it. Uses util-linux (`blkid`, `mount`, `umount`) and
 * /proc/self/mountinfo; nothing here needs udev.
 */
import { execFile } from 'node:child_process';
import { lstat, readdir, readFile, realpath, stat } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { errnoCode, ioError, OperationError } from '../errors.js';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run a tool; a missing binary is an OperationError, a non-zero exit is returned. */
export function run(cmd: string, args: string[], timeoutMs = 60_000): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: timeoutMs, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number') {
        reject(ioError('SLOT_TOOL_FAILED', `cannot run ${cmd}: ${err.message}`, err, { cmd }));
        return;
      }
      resolve({ code: err ? (err.code as number) : 0, stdout, stderr });
    });
  });
}

/** udev's encoding of a label in /dev/disk/by-label (libudev `encode_devnode_name`). */
export function byLabelName(label: string): string {
  let out = '';
  for (const byte of Buffer.from(label, 'utf8')) {
    const c = String.fromCharCode(byte);
    out +=
      /[A-Za-z0-9#+\-.:=@_]/.test(c) || byte >= 0x80
        ? c
        : `\\x${byte.toString(16).padStart(2, '0')}`;
  }
  return out;
}

/**
 * The block device holding the filesystem labelled `label`: the udev symlink
 * `<root>/dev/disk/by-label/<label>` when it exists, otherwise a fresh scan with
 * `blkid -c /dev/null -o device -t LABEL=<label>` (`-c /dev/null`: no cache file,
 * so no stale answer for a device that is gone). Two devices with the same label are
 * an error, never a guess: writing the wrong one could destroy the running OS.
 *
 * With a root other than `/` nothing outside it is looked up (docs/operating.md
 * "--root"): the link must resolve under `<root>/dev`, and the scan reads only the
 * block device nodes in `<root>/dev` (a pod mounts the host's /dev at /host/dev), so a
 * test or a try by hand never finds, mounts or writes the host's own disks.
 */
export async function findDeviceByLabel(label: string, root = '/'): Promise<string> {
  const confined = resolve(root) !== '/';
  const devDir = join(root, 'dev');
  const link = join(devDir, 'disk', 'by-label', byLabelName(label));
  let device: string | undefined;
  try {
    device = await realpath(link);
  } catch (err) {
    if (errnoCode(err) !== 'ENOENT') throw err;
  }
  if (device !== undefined && confined && !isInside(await realpath(devDir), device)) {
    throw new OperationError(
      'SLOT_OUTSIDE_ROOT',
      `${link} points at ${device}, outside ${devDir}: with --root ${root} no device outside it is used`,
      { details: { label, device, root } },
    );
  }
  if (device === undefined) {
    const nodes = confined ? await blockDeviceNodes(devDir) : [];
    if (confined && nodes.length === 0) {
      throw new OperationError(
        'SLOT_NOT_FOUND',
        `no filesystem labelled ${label}: no ${link} and no block device in ${devDir} (with --root ${root} only those are looked at)`,
        { details: { label, root } },
      );
    }
    const r = await run('blkid', [
      ...['-c', '/dev/null', '-o', 'device', '-t', `LABEL=${label}`],
      ...nodes,
    ]);
    // blkid exits 2 when nothing matches.
    if (r.code !== 0 && r.code !== 2) {
      throw new OperationError('SLOT_TOOL_FAILED', `blkid failed: ${r.stderr.trim()}`, {
        details: { label, code: r.code },
      });
    }
    const devices = [...new Set(r.stdout.split('\n').filter((l) => l.trim() !== ''))];
    if (devices.length > 1) {
      throw new OperationError(
        'SLOT_LABEL_AMBIGUOUS',
        `more than one filesystem is labelled ${label}: ${devices.join(', ')}`,
        { details: { label, devices } },
      );
    }
    device = devices[0];
  }
  if (device === undefined) {
    throw new OperationError('SLOT_NOT_FOUND', `no filesystem labelled ${label}`, {
      details: { label },
    });
  }
  const st = await stat(device).catch(() => undefined);
  if (st === undefined || !st.isBlockDevice()) {
    throw new OperationError('SLOT_NOT_FOUND', `${device} (label ${label}) is not a block device`, {
      details: { label, device },
    });
  }
  return device;
}

function isInside(dir: string, path: string): boolean {
  const rel = relative(dir, path);
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel);
}

/** The block device nodes directly in `dir` (not its subfolders), sorted. */
async function blockDeviceNodes(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ENOTDIR') return [];
    throw err;
  }
  const nodes: string[] = [];
  for (const name of names.sort()) {
    const st = await lstat(join(dir, name)).catch(() => undefined);
    if (st?.isBlockDevice()) nodes.push(join(dir, name));
  }
  return nodes;
}

export interface MountEntry {
  majorMinor: string;
  /** The directory of the filesystem that is mounted (bind mounts of a subdirectory are not `/`). */
  fsRoot: string;
  mountPoint: string;
  options: string[];
  fsType: string;
  source: string;
}

/** mountinfo escapes space, tab, newline and backslash as octal (\040 ...). */
function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_m, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/** Parse /proc/self/mountinfo (proc(5)). */
export function parseMountInfo(text: string): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const [left, right] = line.split(' - ');
    if (left === undefined || right === undefined) continue;
    const f = left.split(' ');
    const r = right.split(' ');
    out.push({
      majorMinor: f[2] ?? '',
      fsRoot: unescapeMount(f[3] ?? ''),
      mountPoint: unescapeMount(f[4] ?? ''),
      options: (f[5] ?? '').split(','),
      fsType: r[0] ?? '',
      source: unescapeMount(r[1] ?? ''),
    });
  }
  return out;
}

async function readMountInfo(): Promise<MountEntry[]> {
  return parseMountInfo(await readFile('/proc/self/mountinfo', 'utf8'));
}

/** `major:minor` of a block device, as mountinfo writes it (glibc's gnu_dev_major/minor). */
export async function deviceNumber(device: string): Promise<string> {
  const rdev = (await stat(device, { bigint: true })).rdev;
  const major = ((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn);
  const minor = (rdev & 0xffn) | ((rdev >> 12n) & ~0xffn);
  return `${major}:${minor}`;
}

/** Where the whole filesystem on `device` is mounted, if it is. */
export async function findMount(device: string): Promise<MountEntry | undefined> {
  const mm = await deviceNumber(device);
  return (await readMountInfo()).find((m) => m.majorMinor === mm && m.fsRoot === '/');
}
