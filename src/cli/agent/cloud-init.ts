import type { Command } from '../command.js';
import type { AgentGlobal } from './global.js';
import { notImplemented } from '../not-implemented.js';

export const cloudInitCommand: Command<AgentGlobal> = {
  name: 'cloud-init',
  summary: 'Apply the updates: block of a cloud-init file to update.conf',
  subcommands: [
    {
      name: 'apply',
      summary: 'Write update.conf from the updates: block of FILE',
      usage: 'cloud-init apply FILE [options]',
      run: notImplemented('kubesolo-update cloud-init apply'),
    },
  ],
};
