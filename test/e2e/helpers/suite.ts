/**
 * The amd64 suite (UEFI firmware, GRUB) as every e2e file runs it: decide whether it can
 * run here (loudly), build the image once, give each scenario its own device.
 */
import { freshDevice } from './host.js';
import { AMD64, BUILD_DIR, cannotRun, Device, ensureBuilt, type Layout } from './image.js';
import { ensureKeys } from './release.js';
import { gate, type Suite } from './scenario.js';

const can = gate('e2e', await cannotRun());

/** The agent's slot store in the test OS (boot/build-test-image --slot-backend). */
export const SLOT_BACKEND = 'dir';

/** Fails the calling `before` when a tool is missing (the FAT guest needs no GRUB image). */
export const assertCanRun = () => can.assertCanRun();

export const suite: Suite<Layout, Device> = {
  skipReason: can.skipReason,
  /** The image with the run's release key baked in. */
  async setUp() {
    can.assertCanRun();
    const pubkey = await ensureKeys();
    // KSOLO_E2E_GRUB_CFG: try another GRUB script without editing boot/grub.cfg.
    const grubCfg = process.env.KSOLO_E2E_GRUB_CFG;
    const slotBackend = process.env.KSOLO_E2E_SLOT_BACKEND ?? SLOT_BACKEND;
    return ensureBuilt({ pubkey, slotBackend, ...(grubCfg === undefined ? {} : { grubCfg }) });
  },
  device: (name, layout) => freshDevice(Device, AMD64, name, layout),
  image: { buildDir: BUILD_DIR, arch: 'amd64' },
  serveRelease: 'serve /ctl/release || exit 1',
};
