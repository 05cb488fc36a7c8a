import { UsageError } from '../../errors.js';
import { repackImage } from '../../transport/delta/repack.js';
import { stringOpt, type Command } from '../command.js';
import type { ReleaseGlobal } from './global.js';

function integerOpt(
  value: string | undefined,
  flag: string,
  min: number,
  max: number,
): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < min || n > max) {
    throw new UsageError(
      'REPACK_OPTION_INVALID',
      `--${flag} takes a whole number from ${min} to ${max}, not '${value}'`,
      {
        details: { option: flag, value },
      },
    );
  }
  return n;
}

export const repackCommand: Command<ReleaseGlobal> = {
  name: 'repack',
  summary: 'Rewrite an initramfs into the delta-friendly form and prove it unpacks the same',
  usage: 'repack IN OUT [--mtime SECONDS] [--level 1-9]',
  description: [
    'Reads IN (gzip, zstd or plain cpio, after any uncompressed early-microcode archive)',
    'and writes OUT: the early archive first and unchanged, then one gzip stream with the',
    'entries sorted, mtimes fixed, inode numbers from the paths, cut into units that are',
    'each deflated alone. OUT is read back and compared with IN (files, modes, owners,',
    'contents, links, devices, order) before it is renamed into place. See docs/delta.md.',
  ].join('\n'),
  options: {
    mtime: { type: 'string', valueName: 'SECONDS', description: "Every entry's mtime (default 0)" },
    level: { type: 'string', valueName: 'N', description: 'zlib level of every unit (default 9)' },
  },
  async run({ values, positionals, log, out }) {
    const [input, output] = positionals;
    if (input === undefined || output === undefined || positionals.length > 2) {
      throw new UsageError('MISSING_ARGUMENT', 'repack needs IN and OUT');
    }
    const mtime = integerOpt(stringOpt(values, 'mtime'), 'mtime', 0, 0xffffffff);
    const level = integerOpt(stringOpt(values, 'level'), 'level', 1, 9);
    const r = await repackImage(input, output, {
      ...(mtime === undefined ? {} : { mtime }),
      ...(level === undefined ? {} : { level }),
    });
    log.info('repacked', { in: input, out: output, bytes: r.outBytes, units: r.units });
    const p = r.proof;
    out.line(
      `repacked ${input} (${r.inBytes} bytes) to ${output} (${r.outBytes} bytes, ${r.units} units)`,
    );
    out.line(
      `  equivalent: ${p.entries} entries (${p.files} files, ${p.directories} directories, ${p.symlinks} symlinks, ` +
        `${p.devices} device nodes and others, ${p.hardLinkGroups} hard-link groups), ${p.contentBytes} bytes of content` +
        (p.earlyBytes > 0 ? `; early archive (${p.earlyBytes} bytes) first and unchanged` : ''),
    );
    out.data({
      ok: true,
      in: input,
      out: output,
      inBytes: r.inBytes,
      outBytes: r.outBytes,
      units: r.units,
      proof: p,
    });
  },
};
