import type { Command } from '../command.js';
import type { AgentGlobal } from './global.js';
import { notImplemented } from '../not-implemented.js';

export const metricsCommand: Command<AgentGlobal> = {
  name: 'metrics',
  summary: 'Print or serve Prometheus metrics',
  run: notImplemented('kubesolo-update metrics'),
};
