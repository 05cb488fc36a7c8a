/**
 * Reading and writing the U-Boot environment where `fw_env.config` says it is
 * (docs/boot.md "The U-Boot environment"): files and block devices with the agent's own
 * codec (uboot-env.ts), NOR and NAND flash (MTD) through libubootenv's `fw_setenv`,
 * because flash needs an erase before a write and Node has no call for the MTD erase
 * ioctl.
 *
 * Power cuts: with two copies the agent writes only the copy that is not in use, and
 * only its last byte landing makes it the newer one (its CRC covers every byte), so a
 * cut at any point leaves the old environment or the new one. A single copy is
 * rewritten in place (one positioned write of the whole copy, then fsync, as U-Boot's
 * `saveenv` and `fw_setenv` do): a cut during that write leaves a bad CRC, and U-Boot
 * then boots its built-in default environment (docs/boot.md says which slot that is).
 * The agent never creates an environment from nothing: U-Boot keeps its boot command
 * there too, and a block holding only the A/B variables would leave the device at
 * U-Boot's prompt.
 */
import { spawn } from 'node:child_process';
import { constants } from 'node:fs';
import { mkdtemp, open, rm, writeFile, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { errnoCode, ioError, OperationError } from '../errors.js';
import { decodeNamingPath, readControlFile } from '../fs/control-file.js';
import { readAt } from '../fs/read-at.js';
import { underRoot } from '../paths.js';
import { parseFwEnvConfig, type EnvCopyLocation, type UbootEnvLocation } from './fw-env-config.js';
import {
  nextFlags,
  parseUbootEnvData,
  readCopy,
  selectCopy,
  serializeUbootEnv,
  sortedVars,
  type EnvCopy,
  type FlagScheme,
} from './uboot-env.js';

/** A loaded environment: where it is, both copies as read, and the one U-Boot uses. */
export interface LoadedUbootEnv {
  location: UbootEnvLocation;
  scheme: FlagScheme;
  copies: EnvCopy[];
  /** Index of the copy U-Boot imports. */
  current: number;
  vars: Map<string, string>;
}

/** The write path: the codec (files, block devices) or libubootenv's fw_setenv (flash). */
export type UbootEnvWriter = 'codec' | 'fw_setenv';

/** Steps of a codec write, for fault injection (tests): throwing stops the write there. */
export type UbootEnvWriteStep = 'open' | 'write' | 'sync' | 'verify';

export interface UbootEnvAccess {
  /** fw_env.config (resolved under --root). */
  configPath: string;
  /** --root: device paths in fw_env.config are resolved under it. */
  root: string;
  /** Default: fw_setenv for MTD devices, the codec for everything else. */
  writer?: UbootEnvWriter | 'auto';
  /** The fw_setenv to run (default: `fw_setenv` on PATH). */
  fwSetenv?: string;
  onWriteStep?: (step: UbootEnvWriteStep) => void;
}

const MTD = /^\/dev\/mtd(\d+)$/;

async function readUbootEnvLocation(configPath: string): Promise<UbootEnvLocation> {
  let text: string;
  try {
    text = (await readControlFile(configPath, { maxBytes: 64 * 1024 })).toString('utf8');
  } catch (err) {
    const errno = errnoCode(err);
    throw new OperationError(
      'UBOOTENV_READ_FAILED',
      errno === 'ENOENT'
        ? `${configPath} does not exist: it says where the U-Boot environment is (docs/boot.md)`
        : `cannot read ${configPath}`,
      { cause: err, details: { path: configPath, errno } },
    );
  }
  return decodeNamingPath(configPath, text, parseFwEnvConfig);
}

/**
 * The flag meaning libubootenv uses for a device (check_env_device): NOR flash boolean,
 * NAND flash and everything else incremental. The MTD type is read from sysfs.
 */
async function flagScheme(root: string, copy: EnvCopyLocation): Promise<FlagScheme> {
  const mtd = MTD.exec(copy.device);
  if (!mtd) return 'incremental';
  try {
    const type = await readControlFile(underRoot(root, `/sys/class/mtd/mtd${mtd[1]}/type`), {
      maxBytes: 64,
    });
    return type.toString('latin1').trim() === 'nand' ? 'incremental' : 'boolean';
  } catch {
    return 'boolean';
  }
}

async function openDevice(path: string, write: boolean): Promise<FileHandle> {
  // O_NONBLOCK: a FIFO planted at the path must not hang the agent in open(2).
  const handle = await open(
    path,
    (write ? constants.O_RDWR : constants.O_RDONLY) | constants.O_NONBLOCK,
  );
  const st = await handle.stat();
  if (!st.isFile() && !st.isBlockDevice() && !st.isCharacterDevice()) {
    await handle.close();
    throw Object.assign(new Error(`${path} is not a file or a device`), { code: 'EINVAL' });
  }
  return handle;
}

async function readCopyImage(root: string, copy: EnvCopyLocation): Promise<Buffer> {
  const path = underRoot(root, copy.device);
  let image: Buffer;
  try {
    const handle = await openDevice(path, false);
    try {
      image = await readAt(handle, copy.offset, copy.size);
    } finally {
      await handle.close();
    }
  } catch (err) {
    throw ioError('UBOOTENV_READ_FAILED', `cannot read the U-Boot environment at ${path}`, err, {
      path,
    });
  }
  if (image.length !== copy.size) {
    throw new OperationError(
      'UBOOTENV_CORRUPT',
      `U-Boot environment is corrupt: ${path} ends ${copy.size - image.length} bytes short of the ${copy.size}-byte copy at offset ${copy.offset}`,
      { details: { reason: 'size', path } },
    );
  }
  return image;
}

/** Read both copies and pick U-Boot's (UBOOTENV_CORRUPT `crc` when no copy is valid). */
export async function loadUbootEnv(access: UbootEnvAccess): Promise<LoadedUbootEnv> {
  const location = await readUbootEnvLocation(access.configPath);
  const scheme = await flagScheme(access.root, location.copies[0]!);
  const copies: EnvCopy[] = [];
  for (const copy of location.copies) {
    copies.push(readCopy(await readCopyImage(access.root, copy), location.redundant));
  }
  const current = location.redundant
    ? selectCopy(copies[0]!, copies[1]!, scheme)
    : copies[0]!.crcOk
      ? 0
      : undefined;
  if (current === undefined) {
    throw new OperationError(
      'UBOOTENV_CORRUPT',
      `U-Boot environment is corrupt: ${location.redundant ? 'no copy has' : 'the copy does not have'} a valid CRC; U-Boot boots its built-in default environment`,
      { details: { reason: 'crc', path: underRoot(access.root, location.copies[0]!.device) } },
    );
  }
  let vars: Map<string, string>;
  try {
    vars = parseUbootEnvData(copies[current]!.data);
  } catch (err) {
    if (err instanceof OperationError)
      err.details.path = underRoot(access.root, location.copies[current]!.device);
    throw err;
  }
  return { location, scheme, copies, current, vars };
}

function writerFor(access: UbootEnvAccess, location: UbootEnvLocation): UbootEnvWriter {
  if (access.writer !== undefined && access.writer !== 'auto') return access.writer;
  return location.copies.some((c) => MTD.test(c.device)) ? 'fw_setenv' : 'codec';
}

function writeFailed(path: string, err: unknown, reason: string): OperationError {
  return new OperationError(
    'UBOOTENV_WRITE_FAILED',
    `cannot write the U-Boot environment at ${path}`,
    {
      cause: err,
      details: { path, errno: errnoCode(err), reason },
    },
  );
}

/** The codec's write: one copy, in place, then fsync; read back and compared. */
async function writeWithCodec(
  access: UbootEnvAccess,
  env: LoadedUbootEnv,
  vars: ReadonlyMap<string, string>,
): Promise<void> {
  const { location, scheme } = env;
  const target = location.redundant ? 1 - env.current : 0;
  const copy = location.copies[target]!;
  const image = serializeUbootEnv(sortedVars(vars), {
    size: location.size,
    redundant: location.redundant,
    flags: location.redundant ? nextFlags(env.copies[env.current]!.flags ?? 0, scheme) : undefined,
    pad: 0,
  });
  const path = underRoot(access.root, copy.device);
  const step = access.onWriteStep ?? (() => undefined);
  let handle: FileHandle;
  try {
    // Never created: a missing file or device is an error, not an empty environment.
    handle = await openDevice(path, true);
  } catch (err) {
    throw writeFailed(path, err, 'open');
  }
  try {
    step('open');
    let written = 0;
    // write(2) may be short; finish the copy before syncing.
    while (written < image.length) {
      const { bytesWritten } = await handle.write(
        image,
        written,
        image.length - written,
        copy.offset + written,
      );
      written += bytesWritten;
    }
    step('write');
    await handle.sync();
    step('sync');
    const back = await readAt(handle, copy.offset, image.length);
    if (!back.equals(image)) {
      throw Object.assign(new Error('the copy read back differs from the copy written'), {
        code: 'EIO',
      });
    }
    step('verify');
  } catch (err) {
    if (err instanceof OperationError) throw err;
    throw writeFailed(path, err, 'write');
  } finally {
    await handle.close();
  }
}

function run(cmd: string, args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (output += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (output += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output: output.trim() }));
  });
}

/**
 * Flash (MTD): libubootenv's `fw_setenv -s SCRIPT` with a configuration naming the
 * devices under --root. It erases, writes and, on NOR, marks the old copy obsolete.
 * The agent then reads the environment back with its own codec and checks every
 * variable it set: a helper that wrote something else is a failed write.
 */
async function writeWithFwSetenv(
  access: UbootEnvAccess,
  env: LoadedUbootEnv,
  vars: ReadonlyMap<string, string>,
): Promise<void> {
  const changes = new Map<string, string | undefined>();
  for (const [k, v] of vars) if (env.vars.get(k) !== v) changes.set(k, v);
  for (const k of env.vars.keys()) if (!vars.has(k)) changes.set(k, undefined);
  for (const [k, v] of changes) {
    // fw_setenv's script is one `name=value` line per variable (libuboot_load_file).
    if (v !== undefined && (v.includes('\n') || v.includes('\r') || v === '')) {
      throw new OperationError(
        'UBOOTENV_INVALID_VALUE',
        `cannot set U-Boot variable ${k} through fw_setenv: empty or multi-line value`,
        { details: { key: k } },
      );
    }
  }
  const path = underRoot(access.root, env.location.copies[0]!.device);
  const dir = await mkdtemp(join(tmpdir(), 'kubesolo-fw-setenv-'));
  try {
    const config = env.location.copies
      .map(
        (c) =>
          `${underRoot(access.root, c.device)} 0x${c.offset.toString(16)} 0x${c.size.toString(16)}` +
          (c.sectorSize === undefined ? '' : ` 0x${c.sectorSize.toString(16)}`),
      )
      .join('\n');
    await writeFile(join(dir, 'fw_env.config'), config + '\n');
    await writeFile(
      join(dir, 'script'),
      [...changes].map(([k, v]) => `${k}=${v ?? ''}\n`).join(''),
      'latin1',
    );
    const helper = access.fwSetenv ?? 'fw_setenv';
    let r: { code: number | null; output: string };
    try {
      r = await run(helper, ['-c', join(dir, 'fw_env.config'), '-s', join(dir, 'script')]);
    } catch (err) {
      throw new OperationError(
        'UBOOTENV_WRITE_FAILED',
        `cannot run ${helper}: flash environments are written through libubootenv's fw_setenv (Debian package libubootenv-tool)`,
        { cause: err, details: { path, errno: errnoCode(err), reason: 'helper' } },
      );
    }
    if (r.code !== 0) {
      throw new OperationError(
        'UBOOTENV_WRITE_FAILED',
        `${basename(helper)} failed (exit ${String(r.code)}): ${r.output}`,
        { details: { path, reason: 'helper' } },
      );
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  const after = await loadUbootEnv(access);
  for (const [k, v] of vars) {
    if (after.vars.get(k) !== v) {
      throw new OperationError(
        'UBOOTENV_WRITE_FAILED',
        `fw_setenv left ${k}=${JSON.stringify(after.vars.get(k) ?? null)}, not ${JSON.stringify(v)}`,
        { details: { path, reason: 'verify', key: k } },
      );
    }
  }
}

/**
 * Read, change, write back. Nothing is written when the change changes nothing (flash
 * wears, and every write of a redundant environment takes the other copy).
 */
export async function updateUbootEnv(
  access: UbootEnvAccess,
  change: (vars: Map<string, string>) => Map<string, string>,
): Promise<Map<string, string>> {
  const env = await loadUbootEnv(access);
  const next = change(new Map(env.vars));
  const same = next.size === env.vars.size && [...next].every(([k, v]) => env.vars.get(k) === v);
  if (same) return next;
  if (writerFor(access, env.location) === 'fw_setenv') await writeWithFwSetenv(access, env, next);
  else await writeWithCodec(access, env, next);
  return next;
}
