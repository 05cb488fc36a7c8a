/**
 * Where the U-Boot environment lives: `fw_env.config`, the file libubootenv's
 * `fw_printenv`/`fw_setenv` read (docs/boot.md "Where the environment lives"). The
 * agent reads the same file, so the agent, the OS's tools and the watchdog can never
 * disagree on the layout.
 *
 *   # device-or-file   offset   size     [sector size  [sectors]]
 *   /dev/mmcblk0       0x3f8000 0x4000
 *   /dev/mmcblk0       0x3fc000 0x4000   <- a second line: the redundant copy
 *
 * As libubootenv reads it (src/uboot_env.c libuboot_read_config): `#` in the first
 * column starts a comment; the offset is a C integer (`0x` hex, leading `0` octal,
 * else decimal); size, sector size and sector count are hexadecimal with or without
 * `0x`. Stricter here: a line that is not a comment must have 3 to 5 fields, at most two
 * copies, of the same size; negative offsets (from the end of a device) and UBI volumes
 * are refused rather than half-supported (UBOOTENV_CONFIG_INVALID).
 */
import { ConfigError } from '../errors.js';

export interface EnvCopyLocation {
  /** A device node or a file, as written (resolved under --root by the reader). */
  device: string;
  offset: number;
  /** The whole copy: header + data (U-Boot's CONFIG_ENV_SIZE). */
  size: number;
  /** Erase block size (MTD); informational. */
  sectorSize: number | undefined;
}

export interface UbootEnvLocation {
  /** One copy (single) or two (redundant), in file order: the order U-Boot's rules use. */
  copies: EnvCopyLocation[];
  redundant: boolean;
  size: number;
}

/** Larger environments are refused: U-Boot's are a few KiB to 256 KiB. */
const MAX_ENV_SIZE = 16 * 1024 * 1024;

function invalid(reason: string, message: string, line?: number): ConfigError {
  return new ConfigError(
    'UBOOTENV_CONFIG_INVALID',
    `fw_env.config: ${line === undefined ? '' : `line ${line}: `}${message}`,
    { details: { reason, ...(line === undefined ? {} : { line }) } },
  );
}

/** strtoll(…, 0): `0x` hex, a leading `0` octal, else decimal; undefined when not one. */
function cInteger(text: string): number | undefined {
  let m: RegExpExecArray | null;
  if ((m = /^0[xX]([0-9a-fA-F]+)$/.exec(text))) return parseInt(m[1]!, 16);
  if (/^0[0-7]*$/.test(text)) return parseInt(text, 8);
  if (/^[1-9][0-9]*$/.test(text)) return parseInt(text, 10);
  return undefined;
}

/** `%zx`: hexadecimal, `0x` optional. */
function hexInteger(text: string): number | undefined {
  const m = /^(?:0[xX])?([0-9a-fA-F]+)$/.exec(text);
  return m ? parseInt(m[1]!, 16) : undefined;
}

export function parseFwEnvConfig(text: string): UbootEnvLocation {
  const copies: EnvCopyLocation[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    const line = lines[i]!;
    if (line.startsWith('#')) continue;
    const fields = line.trim().split(/\s+/).filter(Boolean);
    if (fields.length === 0) continue;
    if (fields.length < 3 || fields.length > 5) {
      throw invalid('fields', 'expected: device offset size [sector-size [sectors]]', lineNo);
    }
    const [device, offsetText, sizeText, sectorText] = fields as [string, string, string, string?];
    if (device.startsWith('/dev/ubi')) {
      throw invalid('ubi', `UBI volumes (${device}) are not supported`, lineNo);
    }
    if (offsetText.startsWith('-')) {
      throw invalid('offset', 'offsets from the end of a device are not supported', lineNo);
    }
    const offset = cInteger(offsetText);
    if (offset === undefined || !Number.isSafeInteger(offset)) {
      throw invalid('offset', `bad offset ${JSON.stringify(offsetText)}`, lineNo);
    }
    const size = hexInteger(sizeText);
    if (size === undefined || size < 8 || size > MAX_ENV_SIZE) {
      throw invalid(
        'size',
        `bad size ${JSON.stringify(sizeText)} (hexadecimal, 8 bytes to ${MAX_ENV_SIZE / 1024 / 1024} MiB)`,
        lineNo,
      );
    }
    let sectorSize: number | undefined;
    if (sectorText !== undefined) {
      sectorSize = hexInteger(sectorText);
      if (sectorSize === undefined) {
        throw invalid('sector', `bad sector size ${JSON.stringify(sectorText)}`, lineNo);
      }
    }
    copies.push({ device, offset, size, sectorSize });
  }
  if (copies.length === 0) throw invalid('empty', 'no environment location');
  if (copies.length > 2) throw invalid('copies', `${copies.length} locations; at most two`);
  const [first, second] = copies as [EnvCopyLocation, EnvCopyLocation?];
  if (second !== undefined) {
    if (second.size !== first.size) {
      throw invalid('size', 'the two copies differ in size');
    }
    if (
      second.device === first.device &&
      second.offset < first.offset + first.size &&
      first.offset < second.offset + second.size
    ) {
      throw invalid('overlap', 'the two copies overlap');
    }
  }
  return { copies, redundant: second !== undefined, size: first.size };
}
