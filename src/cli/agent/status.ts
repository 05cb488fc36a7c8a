import type { Command } from '../command.js';
import type { AgentGlobal } from './global.js';
import { notImplemented } from '../not-implemented.js';

export const statusCommand: Command<AgentGlobal> = {
  name: 'status',
  summary: 'Show slots, versions, boot counter and update phase',
  run: notImplemented('kubesolo-update status'),
};
