/** The configuration layer: update.conf, option merging, windows, versions. */
export * from './file.js';
export * from './keys.js';
export * from './load.js';
export * from './merge.js';
export * from './version.js';
export * from './window.js';
export type { UpdateConfig } from './types.js';
