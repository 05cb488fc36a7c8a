import type { Command } from '../command.js';
import type { ReleaseGlobal } from './global.js';
import { notImplemented } from '../not-implemented.js';

export const publishCommand: Command<ReleaseGlobal> = {
  name: 'publish',
  summary: 'Lay out a signed release directory with latest.json',
  usage: 'publish --key KEY --version V --kernel FILE --initramfs FILE --out DIR [options]',
  run: notImplemented('kubesolo-release publish'),
};
