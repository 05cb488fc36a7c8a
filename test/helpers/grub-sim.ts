/** The GRUB simulator lives in src/bootenv/grub-sim.ts (the `dev reboot` command uses it). */
export * from '../../src/bootenv/grub-sim.js';
