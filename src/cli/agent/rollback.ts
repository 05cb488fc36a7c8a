import type { Command } from '../command.js';
import type { AgentGlobal } from './global.js';
import { notImplemented } from '../not-implemented.js';

export const rollbackCommand: Command<AgentGlobal> = {
  name: 'rollback',
  summary: 'Switch back to the other slot',
  run: notImplemented('kubesolo-update rollback'),
};
