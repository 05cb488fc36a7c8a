/**
 * One boot of the e2e test device = one QEMU process: OVMF firmware → GRUB (from the
 * ESP) → Linux + the test OS initramfs → init powers the machine off (or the kernel
 * panics and, with `panic=10` and `-no-reboot`, QEMU exits instead of rebooting).
 * GRUB's boot counter spans boots through the grubenv on the disk image, as it spans
 * power cycles on a device. Software emulation (TCG): no KVM needed.
 */
import { spawn } from 'node:child_process';
import { createConnection } from 'node:net';
import {
  appendFileSync,
  closeSync,
  mkdtempSync,
  openSync,
  readSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const OVMF_CODE = '/usr/share/OVMF/OVMF_CODE_4M.fd';
export const OVMF_VARS = '/usr/share/OVMF/OVMF_VARS_4M.fd';
export const MARK = 'KSOLO-E2E: ';

/** Debian's U-Boot for QEMU's arm64 `virt` board (u-boot-qemu), the arm64 suite's firmware. */
export const UBOOT_ARM64 = '/usr/lib/u-boot/qemu_arm64/u-boot.bin';

export interface BootOptions {
  /**
   * amd64 (default): q35, OVMF, GRUB. arm64: `virt` with Debian's U-Boot (-bios) and its
   * environment's NOR bank as pflash unit 1 (`vars`); the arm64 suite (test/e2e-arm64).
   */
  arch?: 'amd64' | 'arm64';
  disk: string;
  /** amd64: the firmware's variable store (a per-device copy of OVMF_VARS); arm64: the NOR bank image. */
  vars: string;
  /**
   * amd64 only: boot this kernel and initramfs directly (-kernel/-initrd), without
   * OVMF and GRUB (`vars` is then unused): the FAT slot scenario (fat-slots.test.ts).
   */
  kernel?: { vmlinuz: string; initrd: string; append: string };
  /** Raw disk image for the guest's /dev/vdb: a tar archive with control.sh. */
  control?: string;
  /** The full serial console is written here. */
  logFile: string;
  timeoutMs: number;
  /** Kill QEMU (SIGKILL: a power cut) as soon as a console line matches. */
  cutOn?: RegExp;
}

/**
 * After a panic the kernel only waits out `panic=10` before an emergency restart (no
 * sync, no unmount). Under emulation that busy-wait takes ~35 s instead of 10, so the
 * harness ends the boot when the kernel announces it: the same reset, sooner.
 */
export const PANIC_REBOOT = /Rebooting in \d+ seconds/;

/**
 * GRUB's menu (boot/grub.cfg: timeout=3). GRUB times the countdown with a TSC it
 * calibrated at start-up; under emulation on a loaded host that calibration is off and
 * "3 s" lasted from 3 s to 138 s. So the harness presses Enter on the (PS/2) keyboard
 * through QEMU's monitor when the menu shows: the highlighted default entry boots, as
 * it would when the countdown ends. The entry, and everything grub.cfg did before
 * showing the menu (load_env, counting down, save_env), are unchanged.
 */
export const GRUB_MENU = /Press enter to boot the selected OS|will be executed automatically/;

function pressEnter(monitor: string, logOutcome: (outcome: string) => void): void {
  const sock = createConnection(monitor, () => {
    sock.end('sendkey ret\n');
    logOutcome('pressed');
  });
  // Then GRUB's own countdown still boots the entry; the log says the press failed.
  sock.on('error', (err) => logOutcome(`not pressed (${err.message})`));
  sock.resume();
}

export interface BootResult {
  /** Every console line, carriage returns removed. */
  lines: string[];
  /** The `KSOLO-E2E: ` lines, without the prefix. */
  marks: string[];
  durationMs: number;
  /** Milliseconds from QEMU start to the first line matching each milestone. */
  milestones: Record<string, number>;
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  /** The console line that triggered a power cut, if one did. */
  cutAt?: string;
  /** The kernel panicked and announced its restart; the harness ended the boot there. */
  panicReset: boolean;
  /** QEMU's own stdout and stderr (its errors, not the guest's console). */
  qemuOutput: string;
}

const MILESTONES: Record<string, RegExp> = {
  grub: /Welcome to GRUB|GRUB: /,
  uboot: /^U-Boot 20\d\d/,
  script: /^KubeSolo: decision /,
  kernel: /Linux version \d/,
  init: /^KSOLO-E2E: init /,
  health: /^KSOLO-E2E: boot /,
  poweroff: /^KSOLO-E2E: poweroff|reboot: Power down/,
  panic: /Kernel panic - not syncing/,
  // The commit-deadline watchdog (os/init.d) fired, and the init rebooted on its request.
  watchdog: /^kubesolo-update-watchdog: .*rebooting/,
  reboot: /^KSOLO-E2E: reboot requested/,
};

/** arm64: `virt`, U-Boot from -bios, its NOR bank as pflash unit 1. */
function arm64Machine(o: BootOptions): string[] {
  return [
    '-machine',
    'virt',
    '-cpu',
    'cortex-a57',
    '-m',
    '1536',
    '-bios',
    UBOOT_ARM64,
    '-drive',
    `if=pflash,unit=1,format=raw,file=${o.vars}`,
  ];
}

/** amd64: q35 under TCG, OVMF and its variable store, or a kernel booted directly. */
function amd64Machine(o: BootOptions): string[] {
  return [
    '-machine',
    'q35,accel=tcg',
    '-cpu',
    'max',
    '-m',
    '1024',
    ...(o.kernel
      ? ['-kernel', o.kernel.vmlinuz, '-initrd', o.kernel.initrd, '-append', o.kernel.append]
      : [
          '-drive',
          `if=pflash,format=raw,readonly=on,file=${OVMF_CODE}`,
          '-drive',
          `if=pflash,format=raw,file=${o.vars}`,
        ]),
  ];
}

/**
 * Both machines: one vCPU; no device but those named here (-nodefaults: no NIC, the
 * guest has only its loopback); no display; QEMU exits where the guest reboots. The
 * monitor is a Unix socket the harness alone talks to (pressEnter).
 */
const HEADLESS = ['-smp', '1', '-nodefaults', '-display', 'none', '-no-reboot'];

/** The disks on virtio-pci, the serial console into a file. */
export function qemuArgs(o: BootOptions, monitor: string): string[] {
  return [
    ...(o.arch === 'arm64' ? arm64Machine(o) : amd64Machine(o)),
    ...HEADLESS,
    '-monitor',
    `unix:${monitor},server=on,wait=off`,
    // A file, not a pipe: QEMU's 16550 drops characters when its chardev cannot take
    // them (a pipe the reader is slow to drain, seen as "pnic=10" on a busy host).
    '-serial',
    `file:${o.logFile}.raw`,
    // cache=writeback: a write the guest saw complete is in the host's page cache and
    // survives SIGKILL; what the guest had not written (its own page cache) is lost,
    // as on a disk without a volatile write cache.
    '-drive',
    `file=${o.disk},if=none,id=disk,format=raw,cache=writeback`,
    '-device',
    // GRUB's firmware boots the disk; U-Boot and a direct kernel boot need no boot index.
    o.arch === 'arm64' || o.kernel
      ? 'virtio-blk-pci,drive=disk'
      : 'virtio-blk-pci,drive=disk,bootindex=1',
    // The control disk, read-only: the guest's /dev/vdb.
    ...(o.control
      ? [
          '-drive',
          `file=${o.control},if=none,id=ctl,format=raw,readonly=on`,
          '-device',
          'virtio-blk-pci,drive=ctl',
        ]
      : []),
  ];
}

export function boot(o: BootOptions): Promise<BootResult> {
  const start = performance.now();
  writeFileSync(o.logFile, '');
  const raw = `${o.logFile}.raw`;
  writeFileSync(raw, '');
  return new Promise((resolve, reject) => {
    const qemu = o.arch === 'arm64' ? 'qemu-system-aarch64' : 'qemu-system-x86_64';
    // In a short directory of its own: a Unix socket's path is limited to 107 bytes.
    const monitorDir = mkdtempSync(join(tmpdir(), 'ks-qemu-'));
    const monitor = join(monitorDir, 'monitor');
    const child = spawn(qemu, qemuArgs(o, monitor), { stdio: ['ignore', 'pipe', 'pipe'] });
    const lines: string[] = [];
    const milestones: Record<string, number> = {};
    let qemuOutput = '';
    let partial = '';
    let timedOut = false;
    let cutAt: string | undefined;
    let panicReset = false;
    let enterPressed = false;
    const fd = openSync(raw, 'r');
    const buf = Buffer.alloc(1 << 16);
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, o.timeoutMs);
    const onLine = (rawLine: string) => {
      const line = rawLine.replace(/\r/g, '');
      lines.push(line);
      const at = Math.round(performance.now() - start);
      appendFileSync(o.logFile, `${(at / 1000).toFixed(2).padStart(7)} ${line}\n`);
      for (const [name, re] of Object.entries(MILESTONES)) {
        if (milestones[name] === undefined && re.test(line)) milestones[name] = at;
      }
      if (o.cutOn && cutAt === undefined && o.cutOn.test(line)) {
        cutAt = line;
        child.kill('SIGKILL');
      } else if (!enterPressed && GRUB_MENU.test(line)) {
        enterPressed = true;
        pressEnter(monitor, (outcome) =>
          appendFileSync(o.logFile, `--- harness: Enter at the GRUB menu: ${outcome} ---\n`),
        );
      } else if (PANIC_REBOOT.test(line) && !panicReset) {
        panicReset = true;
        child.kill('SIGKILL');
      }
    };
    // Follow the console file (the guest writes it through QEMU) every 50 ms.
    const drain = () => {
      for (;;) {
        const n = readSync(fd, buf, 0, buf.length, null);
        if (n <= 0) break;
        partial += buf.subarray(0, n).toString('latin1');
      }
      const parts = partial.split('\n');
      partial = parts.pop() ?? '';
      for (const p of parts) onLine(p);
    };
    const poll = setInterval(drain, 50);
    child.stdout.setEncoding('utf8').on('data', (d: string) => (qemuOutput += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (qemuOutput += d));
    child.on('error', (e) => {
      clearTimeout(timer);
      clearInterval(poll);
      closeSync(fd);
      reject(e);
    });
    child.on('close', (exitCode, signal) => {
      clearTimeout(timer);
      clearInterval(poll);
      drain();
      if (partial !== '') onLine(partial);
      closeSync(fd);
      rmSync(raw, { force: true });
      rmSync(monitorDir, { recursive: true, force: true });
      if (qemuOutput !== '') appendFileSync(o.logFile, `--- qemu ---\n${qemuOutput}`);
      const marks = lines
        .map((l) => {
          const i = l.indexOf(MARK);
          return i < 0 ? undefined : l.slice(i + MARK.length);
        })
        .filter((m): m is string => m !== undefined);
      resolve({
        lines,
        marks,
        durationMs: Math.round(performance.now() - start),
        milestones,
        exitCode,
        signal,
        timedOut,
        cutAt,
        panicReset,
        qemuOutput,
      });
    });
  });
}
