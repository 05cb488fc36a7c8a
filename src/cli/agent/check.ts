import type { Command } from '../command.js';
import type { AgentGlobal } from './global.js';
import { notImplemented } from '../not-implemented.js';

export const checkCommand: Command<AgentGlobal> = {
  name: 'check',
  summary: "Fetch metadata and report every gate's verdict (changes nothing)",
  run: notImplemented('kubesolo-update check'),
};
