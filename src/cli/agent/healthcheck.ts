import type { Command } from '../command.js';
import type { AgentGlobal } from './global.js';
import { notImplemented } from '../not-implemented.js';

export const healthcheckCommand: Command<AgentGlobal> = {
  name: 'healthcheck',
  summary: 'Run health checks; commit the new slot or roll it back',
  run: notImplemented('kubesolo-update healthcheck'),
};
