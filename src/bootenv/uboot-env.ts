/**
 * The U-Boot environment image (docs/boot.md "The U-Boot environment"): the binary
 * block U-Boot's `saveenv`, `env export -c`, `mkenvimage` and libubootenv's
 * `fw_setenv` write and U-Boot reads at boot.
 *
 *   single copy:     CRC32 (4 bytes, little-endian) | data
 *   redundant copy:  CRC32 (4 bytes, little-endian) | flags (1 byte) | data
 *
 * The CRC is zlib's CRC-32 over the whole data area (not the flags byte). The data area
 * holds `name=value\0` entries and ends with an empty entry (a second `\0`); the rest is
 * padding, which the CRC covers too. Two copies make a redundant environment; the flags
 * byte says which is newer, with one of two meanings:
 *
 *   incremental  a counter raised by every write (block devices, files, NAND, UBI)
 *   boolean      1 = active, 0 = obsolete (NOR flash, where a bit can be cleared
 *                without an erase, so the old copy is marked obsolete in place)
 *
 * The rules are U-Boot's (env/common.c env_import, env_check_redund; env/flash.c;
 * lib/hashtable.c himport_r) and libubootenv's (src/uboot_env.c libuboot_load,
 * libuboot_env_store), checked against `mkenvimage`, `fw_printenv` and `fw_setenv`
 * byte for byte (test/bootenv/uboot-env-oracle.test.ts). Where the two differ the
 * difference is named below; U-Boot, which decides what boots, wins.
 *
 * Names and values are byte strings: they are decoded as latin1, so an environment is
 * rewritten with every other variable exactly as it was, whatever its encoding.
 */
import { crc32 } from 'node:zlib';
import { OperationError } from '../errors.js';

/** Bytes before the data area of a single copy (the CRC). */
const SINGLE_HEADER = 4;
/** Bytes before the data area of a redundant copy (the CRC and the flags byte). */
const REDUNDANT_HEADER = 5;

export type FlagScheme = 'incremental' | 'boolean';

function headerSize(redundant: boolean): number {
  return redundant ? REDUNDANT_HEADER : SINGLE_HEADER;
}

function corrupt(reason: string, message: string): OperationError {
  return new OperationError('UBOOTENV_CORRUPT', `U-Boot environment is corrupt: ${message}`, {
    details: { reason },
  });
}

/**
 * Why U-Boot could not store `name`, or undefined. U-Boot's import (himport_r) skips
 * blanks before a name, reads a name starting with `#` as a comment, and refuses the
 * whole environment for an empty name; `=` ends a name and NUL ends an entry.
 */
export function invalidNameReason(name: string): string | undefined {
  if (name.length === 0) return 'empty name';
  if (name.includes('=')) return "name contains '='";
  if (name.includes('\0')) return 'name contains a NUL byte';
  if (/^[ \t#]/.test(name)) return "name starts with a blank or '#' (U-Boot reads it differently)";
  return undefined;
}

/** Why a value cannot be stored, or undefined: NUL ends an entry. */
export function invalidValueReason(value: string): string | undefined {
  if (value.includes('\0')) return 'value contains a NUL byte';
  return undefined;
}

export interface SerializeOptions {
  /** The whole copy: header + data area (fw_env.config's size, U-Boot's CONFIG_ENV_SIZE). */
  size: number;
  redundant: boolean;
  /** The flags byte of a redundant copy (mkenvimage writes 1). */
  flags?: number;
  /** The padding byte after the data (U-Boot's saveenv: 0; mkenvimage: 0xff unless -p). */
  pad?: number;
}

/**
 * One copy, byte-identical to `mkenvimage -s SIZE [-r] [-p PAD]` over the same
 * `name=value` lines in the same order. What does not fit is refused
 * (UBOOTENV_TOO_LARGE), never truncated.
 */
export function serializeUbootEnv(
  vars: Iterable<readonly [string, string]>,
  options: SerializeOptions,
): Buffer {
  const header = headerSize(options.redundant);
  if (!Number.isInteger(options.size) || options.size < header + 2) {
    throw new OperationError(
      'UBOOTENV_TOO_LARGE',
      `a U-Boot environment of ${options.size} bytes has no room for data`,
      { details: { size: options.size } },
    );
  }
  const image = Buffer.alloc(options.size, options.pad ?? 0);
  let at = header;
  for (const [name, value] of vars) {
    const nameErr = invalidNameReason(name);
    if (nameErr !== undefined) {
      throw new OperationError('UBOOTENV_INVALID_KEY', `cannot store U-Boot variable: ${nameErr}`, {
        details: { key: name },
      });
    }
    const valueErr = invalidValueReason(value);
    if (valueErr !== undefined) {
      throw new OperationError(
        'UBOOTENV_INVALID_VALUE',
        `cannot store U-Boot variable ${name}: ${valueErr}`,
        { details: { key: name } },
      );
    }
    const entry = Buffer.from(`${name}=${value}\0`, 'latin1');
    // The entry, and after the last one the terminating empty entry, must fit.
    if (at + entry.length + 1 > options.size) {
      throw new OperationError(
        'UBOOTENV_TOO_LARGE',
        `U-Boot variables do not fit in the ${options.size}-byte environment`,
        { details: { key: name, needed: at + entry.length + 1, size: options.size } },
      );
    }
    entry.copy(image, at);
    at += entry.length;
  }
  image[at] = 0; // the empty entry that ends the environment
  if (at === header) image[at + 1] = 0; // an empty environment: "\0\0", as mkenvimage writes it
  if (options.redundant) image[SINGLE_HEADER] = options.flags ?? 1;
  image.writeUInt32LE(crc32(image.subarray(header)), 0);
  return image;
}

/** One copy as read: whether its CRC holds, its flags byte (redundant) and its data area. */
export interface EnvCopy {
  crcOk: boolean;
  flags: number | undefined;
  data: Buffer;
}

export function readCopy(image: Buffer, redundant: boolean): EnvCopy {
  const header = headerSize(redundant);
  const data = image.subarray(header);
  return {
    crcOk: image.length > header && image.readUInt32LE(0) === crc32(data),
    flags: redundant ? image[SINGLE_HEADER] : undefined,
    data,
  };
}

/**
 * Which of two redundant copies U-Boot imports (0 or 1), or undefined when neither CRC
 * holds (U-Boot then boots its built-in default environment).
 *
 * incremental (env/common.c env_check_redund, libubootenv): the higher counter, with
 * the wrap 255 → 0 counted as newer; equal counters: the first copy.
 * boolean (env/flash.c env_init): active (1) over obsolete (0); equal: the first copy;
 * a flags byte of 0xff (written, not yet marked) over anything else. libubootenv reads
 * two copies that are both 0xff as the second; U-Boot (followed here) as the first.
 * Flags U-Boot has no rule for (neither 0, 1 nor 0xff, not equal): the higher, as
 * libubootenv does.
 */
export function selectCopy(first: EnvCopy, second: EnvCopy, scheme: FlagScheme): 0 | 1 | undefined {
  if (!first.crcOk && !second.crcOk) return undefined;
  if (!second.crcOk) return 0;
  if (!first.crcOk) return 1;
  const f0 = first.flags ?? 0;
  const f1 = second.flags ?? 0;
  if (scheme === 'incremental') {
    if (f0 === 255 && f1 === 0) return 1;
    if (f1 === 255 && f0 === 0) return 0;
    return f1 > f0 ? 1 : 0;
  }
  if (f0 === 1 && f1 === 0) return 0;
  if (f0 === 0 && f1 === 1) return 1;
  if (f0 === f1) return 0;
  if (f0 === 0xff) return 0;
  if (f1 === 0xff) return 1;
  return f1 > f0 ? 1 : 0;
}

/** The flags byte of the next copy written after one with `current`. */
export function nextFlags(current: number, scheme: FlagScheme): number {
  return scheme === 'incremental' ? (current + 1) & 0xff : 1;
}

/**
 * The variables of a data area, strictly: entries up to the empty entry that ends the
 * environment, which must come before the end of the area (UBOOTENV_CORRUPT `terminator`
 * otherwise: U-Boot would read up to the end, libubootenv refuses). An entry without
 * `=` carries no variable for U-Boot or libubootenv and is skipped; a name U-Boot reads
 * differently (empty: U-Boot refuses the whole environment; leading blank or `#`) is
 * UBOOTENV_CORRUPT `name`. A repeated name: the last one counts, for both readers.
 */
export function parseUbootEnvData(data: Buffer): Map<string, string> {
  const vars = new Map<string, string>();
  let at = 0;
  for (;;) {
    const end = data.indexOf(0, at);
    if (end === -1) throw corrupt('terminator', 'the variables run to the end of the area');
    if (end === at) return vars; // the empty entry
    const entry = data.toString('latin1', at, end);
    at = end + 1;
    const eq = entry.indexOf('=');
    if (eq === -1) continue;
    const name = entry.slice(0, eq);
    const bad = invalidNameReason(name);
    if (bad !== undefined) throw corrupt('name', `variable name not supported (${bad})`);
    vars.delete(name); // the last copy wins, in its own place
    vars.set(name, entry.slice(eq + 1));
  }
}

/**
 * A value as U-Boot's import hands it to the boot script: himport_r drops a `\` and
 * keeps the character after it. libubootenv (and this codec, so that rewriting keeps
 * other variables as they are) keep the raw bytes; the A/B rules are read as U-Boot
 * reads them.
 */
export function ubootImportedValue(raw: string): string {
  return raw.replace(/\\(.)/gs, '$1');
}

/**
 * The variables sorted as U-Boot's `saveenv` (hexport_r) and libubootenv store them:
 * by name, byte by byte.
 */
export function sortedVars(vars: ReadonlyMap<string, string>): [string, string][] {
  return [...vars].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}
