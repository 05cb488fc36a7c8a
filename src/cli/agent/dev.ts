/**
 * `kubesolo-update dev`: a simulated device for trying the agent by hand
 * (docs/quickstart-by-hand.md). Never needed on a real device.
 */
import { readDeviceConfig } from '../../agent/context.js';
import { configFromFlags, mergeOptions } from '../../config/merge.js';
import { parsePublicKey } from '../../crypto/keys.js';
import { describeBootEnv, initDeviceRoot, rebootDevice } from '../../dev/device-root.js';
import { UsageError } from '../../errors.js';
import { readInputFile } from '../../fs/input-file.js';
import { shellCommand } from '../shell-quote.js';
import { boolOpt, stringOpt, type Command, onlyPositional } from '../command.js';
import type { AgentGlobal } from './global.js';

const HEX_KEY = /^\s*[0-9a-fA-F]{64}\s*$/;

/** --pubkey takes the 64 hex characters, or a file holding them (release.pub). */
async function publicKeyHex(value: string): Promise<string> {
  const text = HEX_KEY.test(value)
    ? value
    : (await readInputFile(value, { option: '--pubkey' })).toString('utf8');
  parsePublicKey(text); // refuse a key that can verify nothing now, not at the first check
  return text.trim();
}

const initRoot: Command<AgentGlobal> = {
  name: 'init-root',
  summary: 'Create a simulated device under DIR (dir slots, a real boot environment, cmdline)',
  usage:
    'dev init-root DIR [--installed-version V] [--server URL] [--pubkey PUB] [--bootloader B] [options]',
  description: [
    'Slot A holds --installed-version (booted, committed), slot B is empty. update.conf',
    'uses dir slots and judges health by disk_writable alone (no Kubernetes needed).',
    '--bootloader grub (default), uboot or rpi-tryboot picks the boot environment',
    "(grubenv; a U-Boot environment and fw_env.config; the Pi firmware's autoboot.txt).",
    "Then use the other commands with --root DIR, and 'dev reboot --root DIR' to boot.",
  ].join('\n'),
  options: {
    'installed-version': {
      type: 'string',
      valueName: 'V',
      description: 'Version in slot A (default v0.0.1)',
    },
    server: {
      type: 'string',
      valueName: 'URL',
      description: 'update.conf server= (where latest.json is served)',
    },
    channel: { type: 'string', valueName: 'NAME', description: 'update.conf channel=' },
    pubkey: {
      type: 'string',
      valueName: 'PUB',
      description: 'Release public key file (or its 64 hex characters) to trust',
    },
    force: { type: 'boolean', description: 'Write into a directory that is not empty' },
    bootloader: {
      type: 'string',
      valueName: 'B',
      description: 'grub (default), uboot or rpi-tryboot',
    },
  },
  async run({ positionals, values, out, log }) {
    const dir = onlyPositional(positionals, 'dev init-root needs exactly one DIR');
    const pub = stringOpt(values, 'pubkey');
    const server = stringOpt(values, 'server');
    const channel = stringOpt(values, 'channel');
    // Validated as update.conf's `bootloader` is (CONFIG_INVALID_VALUE naming --bootloader).
    const bootloader =
      configFromFlags({ bootloader: stringOpt(values, 'bootloader') }).bootloader ?? 'grub';
    const r = await initDeviceRoot(dir, {
      bootloader,
      installedVersion: stringOpt(values, 'installed-version') ?? 'v0.0.1',
      ...(server !== undefined ? { server } : {}),
      ...(channel !== undefined ? { channel } : {}),
      ...(pub !== undefined ? { publicKeyHex: await publicKeyHex(pub) } : {}),
      force: boolOpt(values, 'force'),
    });
    log.info('simulated device created', { root: dir, bootloader });
    out.line(
      `Simulated device in ${dir} (${bootloader}): slot A ${r.installedVersion}, booted and committed.`,
    );
    if (r.config.server === undefined) {
      out.line('No server= yet: pass --server to init-root, or edit etc/kubesolo/update.conf.');
    }
    out.line(`Try: ${shellCommand(['kubesolo-update', '--root', dir, 'status'])}`);
    out.data({ ok: true, root: dir, installed_version: r.installedVersion, bootloader });
  },
};

const reboot: Command<AgentGlobal> = {
  name: 'reboot',
  summary: "Boot a simulated device once, by its bootloader's rules",
  usage: 'dev reboot --root DIR',
  globals: ['root', 'conf'],
  description: [
    "Runs the bootloader's rules over its environment (GRUB's grub.cfg, U-Boot's boot.scr:",
    'counts a trial boot down, falls back when the tries are used up; the Pi firmware: one',
    'tryboot when the agent armed it) and writes the kernel command line and a new boot id.',
  ].join('\n'),
  async run({ global, out, log }) {
    if (global.root === '/') {
      throw new UsageError(
        'MISSING_OPTION',
        "dev reboot needs --root DIR (a simulated device); it never touches this machine's boot",
      );
    }
    const settings = mergeOptions({}, (await readDeviceConfig(global, log)).file);
    const before = await describeBootEnv(global.root, settings);
    const boot = await rebootDevice(global.root, settings);
    const after = await describeBootEnv(global.root, settings);
    const name = { grub: 'GRUB', uboot: 'U-Boot', 'rpi-tryboot': 'Pi firmware' }[
      settings.bootloader
    ];
    out.line(`${name}: ${boot.action} → booted slot ${boot.bootedSlot}`);
    const store = { grub: 'grubenv', uboot: 'U-Boot env', 'rpi-tryboot': 'autoboot.txt' }[
      settings.bootloader
    ];
    out.line(`  ${store} before: ${before}`);
    out.line(`  ${store} after:  ${after}`);
    out.line(`  /proc/cmdline:  ${boot.cmdline}`);
    out.data({
      ok: true,
      bootloader: settings.bootloader,
      action: boot.action,
      booted_slot: boot.bootedSlot,
      cmdline: boot.cmdline,
    });
  },
};

export const devCommand: Command<AgentGlobal> = {
  name: 'dev',
  summary: 'A simulated device for trying the agent by hand (init-root, reboot)',
  subcommands: [initRoot, reboot],
};
