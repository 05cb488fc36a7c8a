import type { Command } from '../command.js';
import type { AgentGlobal } from './global.js';
import { notImplemented } from '../not-implemented.js';

export const activateCommand: Command<AgentGlobal> = {
  name: 'activate',
  summary: 'Make the staged slot the one GRUB tries on next boot',
  run: notImplemented('kubesolo-update activate'),
};
