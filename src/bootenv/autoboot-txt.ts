/**
 * The Raspberry Pi firmware's `autoboot.txt` (docs/boot.md "Raspberry Pi tryboot"), on
 * the first FAT partition: which partition the firmware boots, and with `tryboot_a_b=1`
 * which one it boots when rebooted with the one-shot tryboot flag (`reboot "0 tryboot"`).
 *
 *   [all]
 *   tryboot_a_b=1
 *   boot_partition=2        <- every ordinary boot (the committed slot)
 *   [tryboot]
 *   boot_partition=3        <- the one boot after `reboot "0 tryboot"` (the slot on trial)
 *
 * The firmware reads at most 512 bytes of it. The agent writes it at exactly 512 bytes
 * (a `#` comment pads the end), always in place: on FAT a rename is not power-cut safe
 * (docs/boot.md, the lesson of grubenv on the ESP), and a file that keeps its size and
 * its one cluster changes no FAT metadata. The block is one 512-byte sector, which
 * storage writes whole. Reading is strict: only the settings above, the comments the
 * agent writes, and nothing the agent would drop when it rewrites the file
 * (AUTOBOOT_INVALID with details.reason).
 */
import { OperationError } from '../errors.js';

/** The firmware reads at most this much; the agent writes exactly this much. */
export const AUTOBOOT_SIZE = 512;

export interface Autoboot {
  /** `[all] boot_partition`: what every ordinary boot starts. */
  allPartition: number;
  /** `[tryboot] boot_partition`: what a tryboot reboot starts (undefined: no such section). */
  trybootPartition: number | undefined;
  /**
   * The boot id (/proc/sys/kernel/random/boot_id) of the boot in which the agent armed the
   * trial, kept in a comment: it tells "armed, not yet rebooted" from "tried already".
   */
  armedBootId: string | undefined;
}

function invalid(reason: string, message: string): OperationError {
  return new OperationError('AUTOBOOT_INVALID', `autoboot.txt: ${message}`, {
    details: { reason },
  });
}

const ARMED = '# kubesolo: trial armed in boot ';
const HEADER = '# KubeSolo OS A/B (kubesolo-update, docs/boot.md): written in place, 512 bytes';

function partition(text: string, where: string): number {
  if (!/^[1-9][0-9]?$/.test(text))
    throw invalid('value', `${where}: boot_partition=${text} is not a partition number`);
  return Number(text);
}

export function parseAutoboot(bytes: Buffer): Autoboot {
  if (bytes.length > AUTOBOOT_SIZE) {
    throw invalid(
      'size',
      `${bytes.length} bytes; the firmware reads only the first ${AUTOBOOT_SIZE}`,
    );
  }
  let section: 'all' | 'tryboot' | undefined;
  let all: number | undefined;
  let tryboot: number | undefined;
  let ab = false;
  let armedBootId: string | undefined;
  for (const raw of bytes.toString('latin1').split('\n')) {
    const line = raw.trim();
    if (line.startsWith(ARMED)) {
      armedBootId = line.slice(ARMED.length).trim() || undefined;
      continue;
    }
    if (line === '' || line.startsWith('#')) continue;
    if (line === '[all]' || line === '[tryboot]') {
      section = line === '[all]' ? 'all' : 'tryboot';
      continue;
    }
    if (line.startsWith('['))
      throw invalid('section', `section ${line} is not supported (only [all] and [tryboot])`);
    const m = /^([a-z_]+)=(.*)$/.exec(line);
    if (!m || section === undefined)
      throw invalid('line', `unexpected line ${JSON.stringify(line)}`);
    const [, key, value] = m as unknown as [string, string, string];
    if (key === 'boot_partition') {
      if (section === 'all') all = partition(value, '[all]');
      else tryboot = partition(value, '[tryboot]');
    } else if (key === 'tryboot_a_b' && section === 'all') {
      if (value !== '1') throw invalid('value', 'tryboot_a_b must be 1 (A/B tryboot)');
      ab = true;
    } else {
      throw invalid('key', `${key} in [${section}] is not supported`);
    }
  }
  if (all === undefined) throw invalid('missing', 'no boot_partition in [all]');
  if (!ab)
    throw invalid('missing', 'no tryboot_a_b=1 in [all]: the firmware would ignore [tryboot]');
  return { allPartition: all, trybootPartition: tryboot, armedBootId };
}

/** The 512-byte file: the settings, the armed comment, then `#` padding. */
export function serializeAutoboot(a: Autoboot): Buffer {
  const lines = [
    HEADER,
    '[all]',
    'tryboot_a_b=1',
    `boot_partition=${a.allPartition}`,
    '[tryboot]',
    `boot_partition=${a.trybootPartition ?? a.allPartition}`,
  ];
  if (a.armedBootId !== undefined) {
    if (!/^[0-9a-f-]{1,64}$/.test(a.armedBootId)) {
      throw invalid('value', `boot id ${JSON.stringify(a.armedBootId)} is not a boot id`);
    }
    lines.push(`${ARMED}${a.armedBootId}`);
  }
  const text = lines.join('\n') + '\n';
  const out = Buffer.alloc(AUTOBOOT_SIZE, '#');
  const used = out.write(text, 'latin1');
  out[AUTOBOOT_SIZE - 1] = 0x0a; // the padding is one comment line, ended
  if (used >= AUTOBOOT_SIZE - 1) throw invalid('size', 'the settings do not fit in 512 bytes');
  return out;
}
