import type { Command } from '../command.js';
import type { ReleaseGlobal } from './global.js';
import { notImplemented } from '../not-implemented.js';

export const signCommand: Command<ReleaseGlobal> = {
  name: 'sign',
  summary: 'Write FILE.sig for each FILE',
  usage: 'sign --key KEY FILE...',
  run: notImplemented('kubesolo-release sign'),
};
