/** The command tree of `kubesolo-update`, the on-device agent. */
import { VERSION } from '../../version.js';
import type { Program } from '../command.js';
import { boolOpt, stringOpt } from '../command.js';
import { activateCommand } from './activate.js';
import { applyCommand } from './apply.js';
import { checkCommand } from './check.js';
import { cloudInitCommand } from './cloud-init.js';
import { agentGlobalOptions, makeAgentGlobal, type AgentGlobal } from './global.js';
import { healthcheckCommand } from './healthcheck.js';
import { metricsCommand } from './metrics.js';
import { rollbackCommand } from './rollback.js';
import { statusCommand } from './status.js';

export const agentProgram: Program<AgentGlobal> = {
  name: 'kubesolo-update',
  summary: 'A/B over-the-air update agent for KubeSolo OS',
  version: VERSION,
  globalOptions: agentGlobalOptions,
  commands: [
    checkCommand,
    applyCommand,
    activateCommand,
    rollbackCommand,
    healthcheckCommand,
    statusCommand,
    metricsCommand,
    cloudInitCommand,
  ],
  makeGlobal: makeAgentGlobal,
  outputMode: (values) => ({
    json: boolOpt(values, 'json'),
    logLevel: stringOpt(values, 'log-level'),
  }),
};
