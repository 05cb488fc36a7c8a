/**
 * The running slot from the kernel command line (docs/design.md §3.1): grub.cfg passes
 * `kubesolo.slot=A|B` to the kernel it boots, so `/proc/cmdline` names the slot the
 * running OS came from.
 */
import { errnoCode, ioError } from '../errors.js';
import { readControlText } from '../fs/control-file.js';
import { isSlot, type Slot } from './types.js';

const PARAM = 'kubesolo.slot=';

/**
 * The slot named by the last `kubesolo.slot=` parameter (the kernel hands parameters
 * to userspace in order, and a later one overrides an earlier one by convention), or
 * undefined when there is none or its value is not A or B.
 */
export function parseRunningSlot(cmdline: string): Slot | undefined {
  let value: string | undefined;
  for (const word of cmdline.split(/\s+/)) {
    if (word.startsWith(PARAM)) value = word.slice(PARAM.length);
  }
  return isSlot(value) ? value : undefined;
}

/** Read the command line file; undefined when it does not exist (e.g. an image builder's --root). */
export async function readCmdline(path: string): Promise<string | undefined> {
  try {
    // The kernel caps its command line at a few KiB (COMMAND_LINE_SIZE).
    return await readControlText(path, { maxBytes: 64 * 1024 });
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined;
    throw ioError('CMDLINE_READ_FAILED', `cannot read ${path}`, err, { path });
  }
}
