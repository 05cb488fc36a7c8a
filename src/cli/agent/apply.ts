import type { Command } from '../command.js';
import type { AgentGlobal } from './global.js';
import { notImplemented } from '../not-implemented.js';

export const applyCommand: Command<AgentGlobal> = {
  name: 'apply',
  summary: 'Download, verify and write an update to the passive slot',
  run: notImplemented('kubesolo-update apply'),
};
