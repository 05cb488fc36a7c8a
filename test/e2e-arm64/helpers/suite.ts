/**
 * The arm64 suite (U-Boot, boot.scr) as every arm64 e2e file runs it: decide whether it
 * can run here (loudly), build the image once, give each scenario its own device.
 */
import { freshDevice } from '../../e2e/helpers/host.js';
import { gate, type Suite } from '../../e2e/helpers/scenario.js';
import {
  ARM64,
  ARM64_GUEST_LIB,
  cannotRun,
  Device,
  ensureBuilt,
  IMAGE,
  type Layout,
} from './device.js';

const can = gate('arm64 e2e', await cannotRun());

export const suite: Suite<Layout, Device> = {
  skipReason: can.skipReason,
  async setUp() {
    can.assertCanRun();
    return ensureBuilt();
  },
  device: (name, layout) => freshDevice(Device, ARM64, name, layout),
  image: IMAGE,
  // busybox httpd: the arm64 image carries the agent, not kubesolo-release.
  serveRelease: `${ARM64_GUEST_LIB}\nserve_httpd /ctl/release || exit 1`,
  decisions: {
    trial: (left) => `KubeSolo: slot B on trial, ${left} tries left after this one`,
    fallback: 'KubeSolo: slot B did not become good; falling back to slot A',
    bootA: 'KubeSolo: decision action=boot slot=A',
  },
};
